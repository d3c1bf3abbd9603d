import json

import numpy as np
import pytest

from minitx.data import TokenDataset, builtin_documents, builtin_text, read_text


def test_builtin_corpus_is_the_python_reference_manual():
    docs = builtin_documents()
    assert len(docs) > 50 and all(docs)
    text = builtin_text()
    assert len(text) > 300_000
    assert docs[0] in text and docs[-1] in text
    assert "The \"if\" statement is used for conditional execution" in text


def test_read_text_utf8_and_bom(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("\ufeffhéllo\nwörld".encode("utf-8"))
    assert read_text(path) == "héllo\nwörld"


def test_read_text_invalid_utf8_names_file_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\nfine \xff here")
    with pytest.raises(ValueError, match=r"bad\.txt:2: invalid UTF-8 \(byte 0x.. at offset 8"):
        read_text(path)


def test_read_text_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt: no such file"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        read_text(tmp_path)


def _dataset(n=1000, block=8, seed=3):
    return TokenDataset(np.arange(n), block, val_fraction=0.1, seed=seed)


def test_batches_are_shifted_windows_of_the_right_split():
    ds = _dataset()
    x, y = ds.get_batch(5)
    assert x.shape == y.shape == (5, 8) and x.dtype == y.dtype == np.int64
    # ids are 0..999, so a window is a run of consecutive ints
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    assert x.min() >= 0 and y.max() < 900  # train is the first 900 ids
    xv, yv = ds.eval_batches(4, 3)[0]
    assert xv.shape == (4, 8) and xv.min() >= 900  # val is the last 100
    np.testing.assert_array_equal(yv, xv + 1)


def test_batches_cover_the_whole_split():
    ds = TokenDataset(np.arange(20), 4, val_fraction=0.0)
    seen = np.concatenate([np.concatenate(ds.get_batch(64)).ravel() for _ in range(5)])
    assert set(seen) == set(range(20))  # both ends reachable: first x and last y


def test_same_seed_same_batches_and_state_resumes_exactly():
    a, b = _dataset(seed=7), _dataset(seed=7)
    for _ in range(3):
        np.testing.assert_array_equal(a.get_batch(4)[0], b.get_batch(4)[0])
    assert not np.array_equal(_dataset(seed=8).get_batch(4)[0], _dataset(seed=7).get_batch(4)[0])
    state = json.loads(json.dumps(a.state_dict()))  # the state survives JSON
    expected = [a.get_batch(4)[0] for _ in range(3)]
    c = _dataset(seed=7)
    c.load_state_dict(state)
    assert c.batches_drawn == 3
    for e in expected:
        np.testing.assert_array_equal(c.get_batch(4)[0], e)


def test_eval_batches_are_fixed_and_leave_training_draws_alone():
    a, b = _dataset(), _dataset()
    first = a.eval_batches(4, 2)
    a.get_batch(4)
    b.get_batch(4)
    for (x1, y1), (x2, y2) in zip(first, a.eval_batches(4, 2)):
        np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(a.get_batch(4)[0], b.get_batch(4)[0])


def test_too_short_text_is_a_clear_error():
    with pytest.raises(ValueError, match=r"the val split has 9 tokens, fewer than block_size \+ 1 = 17"):
        TokenDataset(np.arange(90), 16, val_fraction=0.1)
    with pytest.raises(ValueError, match="1-D integer"):
        TokenDataset(np.zeros(100), 4)
