"""The sinusoidal position table (T=64, C=48) as a heat map: slow waves in the last
channels, fast ones in the first (minitx.nn.functional.sinusoidal_position_encoding)."""
from _common import output_path

from minitx.nn.functional import sinusoidal_position_encoding
from minitx.viz import position_encoding_map

if __name__ == "__main__":
    path = output_path(__file__, __doc__)
    position_encoding_map(sinusoidal_position_encoding(64, 48).data, path=path)
    print(path)
