"""How alike two positions of the sinusoidal table (T=64, C=48) are: p_i . p_j depends
on the distance j - i alone, peaks at C/2 and decays."""
from _common import output_path

from minitx.nn.functional import sinusoidal_position_encoding
from minitx.viz import position_similarity

if __name__ == "__main__":
    path = output_path(__file__, __doc__)
    position_similarity(sinusoidal_position_encoding(64, 48).data, path=path)
    print(path)
