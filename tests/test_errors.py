"""Bad input (SPEC 11): weight files (round trip, corrupt, foreign, pickled, mismatched,
never half-loaded), unknown backend / initializer names (a missing CuPy: test_cupy_backend.py)."""
import pickle

import numpy as np
import pytest

import tinygraph as tg


class _Layer:
    """Anything with ``weights`` is saved as a layer."""

    def __init__(self, *weights):
        self.weights = list(weights)


def _vars(rng):
    return [tg.Variable(rng.standard_normal((3, 2)), name="kernel"),
            tg.Variable(rng.standard_normal(2).astype("float32"), name="bias"),
            tg.Variable(np.array([1, 2, 3], "int32"), name="counts", trainable=False),
            tg.Variable(np.array(0.5), name="scalar")]


def _values(vs):
    return [v.value.copy() for v in vs]


def _assert_unchanged(vs, saved):
    for v, s in zip(vs, saved):
        np.testing.assert_array_equal(v.value, s)
        assert v.value.dtype == s.dtype


# ----------------------------------------------------------------- round trip

def test_save_load_round_trip(tmp_path, rng):
    src = _vars(rng)
    path = tmp_path / "weights.npz"
    tg.save_weights(str(path), src)
    dst = [tg.Variable(np.zeros(v.shape, v.dtype), name=v.name) for v in src]
    tg.load_weights(str(path), dst)
    for a, b in zip(src, dst):
        np.testing.assert_array_equal(a.value, b.value)
        assert a.value.dtype == b.value.dtype
    # the file is a plain npz readable without pickle
    with np.load(path, allow_pickle=False) as data:
        assert len(data.files) == len(src) + 1


def test_round_trip_through_layer_objects_and_nested_lists(tmp_path, rng):
    a, b, c, d = _vars(rng)
    path = str(tmp_path / "w.npz")
    tg.save_weights(path, [_Layer(a, b), [c], d])
    copies = [tg.Variable(np.zeros(v.shape, v.dtype)) for v in (a, b, c, d)]
    tg.load_weights(path, [_Layer(*copies[:2]), copies[2], copies[3]])
    for x, y in zip((a, b, c, d), copies):
        np.testing.assert_array_equal(x.value, y.value)


def test_round_trip_with_many_weights_keeps_order(tmp_path):
    vs = [tg.Variable(np.full(2, float(i)), name=f"w{i}") for i in range(12)]
    path = str(tmp_path / "w.npz")
    tg.save_weights(path, vs)
    dst = [tg.Variable(np.zeros(2)) for _ in vs]
    tg.load_weights(path, dst)
    assert [float(v.value[0]) for v in dst] == [float(i) for i in range(12)]


def test_loaded_weights_are_used_by_a_session(tmp_path):
    v = tg.Variable(np.array([1.0, 2.0]), name="v")
    y = v * 10.0
    sess = tg.Session()
    assert list(sess.run(y)) == [10.0, 20.0]
    path = str(tmp_path / "w.npz")
    tg.save_weights(path, [tg.Variable(np.array([3.0, 4.0]), name="other")])
    tg.load_weights(path, [v])
    assert list(sess.run(y)) == [30.0, 40.0]


# ----------------------------------------------------------------- bad files

def test_corrupt_file(tmp_path, rng):
    vs = _vars(rng)
    saved = _values(vs)
    path = tmp_path / "junk.npz"
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ValueError, match="junk.npz"):
        tg.load_weights(str(path), vs)
    _assert_unchanged(vs, saved)


def test_truncated_file(tmp_path, rng):
    vs = _vars(rng)
    path = tmp_path / "w.npz"
    tg.save_weights(str(path), vs)
    data = path.read_bytes()
    saved = _values(vs)
    for cut in (10, len(data) // 2, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="w.npz"):
            tg.load_weights(str(path), vs)
    _assert_unchanged(vs, saved)


def test_missing_file(tmp_path):
    v = tg.Variable(np.zeros(2))
    with pytest.raises(ValueError, match="nothere"):
        tg.load_weights(str(tmp_path / "nothere.npz"), [v])


def test_npy_file_is_not_a_weights_file(tmp_path):
    v = tg.Variable(np.zeros((2, 3)), name="v")
    path = str(tmp_path / "single.npy")
    np.save(path, np.ones((2, 3)))
    with pytest.raises(ValueError, match="not a .npz"):
        tg.load_weights(path, [v])
    np.testing.assert_array_equal(v.value, np.zeros((2, 3)))


def test_foreign_npz_without_tag(tmp_path):
    v = tg.Variable(np.zeros((2, 3)), name="v")
    path = str(tmp_path / "foreign.npz")
    np.savez(path, **{"0000:v": np.ones((2, 3))})
    with pytest.raises(ValueError, match="not written by tinygraph"):
        tg.load_weights(path, [v])
    np.testing.assert_array_equal(v.value, np.zeros((2, 3)))


class _Exploit:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_object_array_is_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    payload = np.empty(1, dtype=object)
    payload[0] = _Exploit(marker)
    path = str(tmp_path / "evil.npz")
    np.savez(path, __format__=np.array("tinygraph-weights-v1"), **{"0000:v": payload})
    v = tg.Variable(np.zeros(1), name="v")
    with pytest.raises(ValueError, match="unpickl"):
        tg.load_weights(path, [v])
    assert not marker.exists()
    np.testing.assert_array_equal(v.value, [0.0])
    # and a bare pickle named .npz
    path2 = tmp_path / "evil2.npz"
    path2.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ValueError):
        tg.load_weights(str(path2), [v])
    assert not marker.exists()


# ----------------------------------------------------------------- mismatches

def test_wrong_count_changes_nothing(tmp_path, rng):
    vs = _vars(rng)
    path = str(tmp_path / "w.npz")
    tg.save_weights(path, vs[:3])
    saved = _values(vs)
    with pytest.raises(ValueError, match="3 weights.*4"):
        tg.load_weights(path, vs)
    with pytest.raises(ValueError, match="3 weights.*2"):
        tg.load_weights(path, vs[:2])
    _assert_unchanged(vs, saved)


def test_wrong_shape_names_the_weight_and_changes_nothing(tmp_path, rng):
    src = _vars(rng)
    path = str(tmp_path / "w.npz")
    tg.save_weights(path, src)
    dst = [tg.Variable(np.zeros((3, 2)), name="k2"), tg.Variable(np.zeros(2, "float32"), name="b2"),
           tg.Variable(np.zeros(4, "int32"), name="c2"), tg.Variable(np.array(0.0), name="s2")]
    saved = _values(dst)
    with pytest.raises(ValueError) as e:
        tg.load_weights(path, dst)
    msg = str(e.value)
    assert "counts" in msg and "c2" in msg and "(3,)" in msg and "(4,)" in msg, msg
    _assert_unchanged(dst, saved)      # the first two, which matched, are untouched


def test_unsafe_dtype_changes_nothing(tmp_path):
    src = [tg.Variable(np.ones(2), name="a"), tg.Variable(np.full(2, 1.5), name="b")]
    path = str(tmp_path / "w.npz")
    tg.save_weights(path, src)
    dst = [tg.Variable(np.zeros(2), name="a"), tg.Variable(np.zeros(2, "int32"), name="b")]
    with pytest.raises(ValueError, match="'b'.*float64.*int32"):
        tg.load_weights(path, dst)
    _assert_unchanged(dst, [np.zeros(2), np.zeros(2, "int32")])


# ----------------------------------------------------------------- names

def test_gather_index_out_of_range_is_an_error_on_every_backend():
    params = tg.constant(np.arange(6.0).reshape(3, 2))
    idx = tg.placeholder((None,), "int32", name="idx")
    y = tg.gather(params, idx)
    sess = tg.Session()
    np.testing.assert_array_equal(sess.run(y, {idx: [2, -3]}), [[4.0, 5.0], [0.0, 1.0]])
    with pytest.raises(IndexError, match="gather: index 3 is out of range for axis 0 of size 3"):
        sess.run(y, {idx: [0, 3]})
    with pytest.raises(IndexError, match="index -4 is out of range"):
        sess.run(y, {idx: [-4]})
    assert sess.run(y, {idx: np.zeros(0, "int32")}).shape == (0, 2)


@pytest.mark.parametrize("seed", [-1, 2 ** 64, 1.5, "7", True])
def test_bad_seed_is_an_error_when_the_op_is_built(seed):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
        tg.random_uniform((2,), seed=seed)
    r = tg.random_normal((3,), seed=2 ** 64 - 1)          # the largest seed runs
    assert tg.Session().run(r).shape == (3,)


def test_unknown_backend_lists_valid_ones():
    with pytest.raises(ValueError) as e:
        tg.Session(backend="tpu")
    assert "tpu" in str(e.value) and "numpy" in str(e.value)
    with pytest.raises(ValueError, match="numpy"):
        tg.backends.get("nope")


def test_unknown_initializer_lists_valid_ones():
    with pytest.raises(ValueError) as e:
        tg.get_variable("w", (2,), initializer="glorot_unifrom")
    assert "glorot_uniform" in str(e.value) and "zeros" in str(e.value)


def test_unknown_pass_lists_valid_ones():
    with pytest.raises(ValueError) as e:
        tg.optimize(tg.constant(1.0) * 2.0, passes=["folding"])
    for name in ("constant_folding", "cse", "algebraic", "dce"):
        assert name in str(e.value)


def test_run_time_error_names_the_node():
    idx = tg.placeholder((1,), "int32", name="idx")
    g = tg.gather(tg.constant(np.arange(3.0)), idx, name="lookup")
    with pytest.raises(IndexError, match="lookup"):
        tg.Session().run(g, {idx: [5]})
