"""An adversarial user against graph building (issue 14): bad inputs to placeholders,
constants, Variables and every family of ops. Each case asserts the error type and the
words that name the argument and what was expected; all of them are raised while the
graph is built (no Session runs here). Counts are in docs/errors.md."""
import numpy as np
import pytest

import tinygraph as tg

SE, TE, VE, IE = tg.ShapeError, TypeError, ValueError, IndexError


def A():
    return tg.constant(np.ones((3, 4), "float32"), name="A")


def I3():
    return tg.constant(np.array([0, 1, 2], "int32"), name="I")


def B2():
    return tg.constant(np.array([True, False]), name="B")


def P(shape=(None, 4), dtype="float32"):
    return tg.placeholder(shape, dtype, name="P")


CASES = [
    # placeholders
    ("ph-str-shape", lambda: tg.placeholder("abc"), TE, "placeholder: shape must be a list"),
    ("ph-int-shape", lambda: tg.placeholder(3), TE, "placeholder: shape must be a list"),
    ("ph-float-dim", lambda: tg.placeholder((2.5, 3)), TE, r"shape entries .* 2\.5"),
    ("ph-bool-dim", lambda: tg.placeholder((True, 3)), TE, r"shape entries .* True"),
    ("ph-str-dim", lambda: tg.placeholder(("a",)), TE, "shape entries"),
    ("ph-neg-dim", lambda: tg.placeholder((-1, 3)), VE, "placeholder: negative dimension -1"),
    ("ph-dict-shape", lambda: tg.placeholder({"a": 1}), TE, "placeholder: shape must be"),
    ("ph-obj-dtype", lambda: tg.placeholder((2,), object), TE, "placeholder: .* not a tensor dtype"),
    ("ph-str-dtype", lambda: tg.placeholder((2,), str), TE, "not a tensor dtype"),
    ("ph-bad-dtype", lambda: tg.placeholder((2,), "foo"), TE, "'foo' is not a tensor dtype"),
    ("ph-complex", lambda: tg.placeholder((2,), "complex64"), TE, "not a tensor dtype"),
    ("ph-datetime", lambda: tg.placeholder((2,), "datetime64[s]"), TE, "not a tensor dtype"),
    ("ph-int-name", lambda: tg.placeholder((2,), name=3), TE, "placeholder: name must be a string"),
    # constants
    ("const-str", lambda: tg.constant("abc"), TE, "constant: cannot convert str 'abc'"),
    ("const-bytes", lambda: tg.constant(b"ab"), TE, "constant: cannot convert bytes"),
    ("const-none", lambda: tg.constant(None), TE, "constant: cannot convert NoneType"),
    ("const-dict", lambda: tg.constant({"a": 1}), TE, "constant: cannot convert dict"),
    ("const-ragged", lambda: tg.constant([[1, 2], [3]]), VE, "constant: .* is ragged"),
    ("const-tensor", lambda: tg.constant(A()), TE, "is already a tensor"),
    ("const-list-of-tensors", lambda: tg.constant([A(), A()]), TE, "constant: cannot convert list"),
    ("const-complex", lambda: tg.constant(1 + 2j), TE, "cannot convert complex"),
    ("const-bad-dtype", lambda: tg.constant(1.0, dtype="foo"), TE, "'foo' is not a tensor dtype"),
    ("const-lossy-int", lambda: tg.constant(1.5, dtype="int32"), TE, "not representable as int32"),
    ("const-int8-overflow", lambda: tg.constant(300, dtype="int8"), TE, "not representable as int8"),
    ("const-neg-uint", lambda: tg.constant(-1, dtype="uint8"), TE, "not representable as uint8"),
    ("const-to-bool", lambda: tg.constant(2, dtype="bool"), TE, "not representable as bool"),
    ("const-nan-int", lambda: tg.constant(np.nan, dtype="int32"), TE, "not representable as int32"),
    ("const-int64-big", lambda: tg.constant(np.array([2 ** 40]), dtype="int32"), TE,
     "not representable as int32"),
    # Variables
    ("var-tensor", lambda: tg.Variable(A()), TE, "initial_value must be a NumPy array"),
    ("var-str", lambda: tg.Variable("abc"), TE, "Variable: cannot convert str"),
    ("var-ragged", lambda: tg.Variable([[1.0], [2.0, 3.0]]), VE, "Variable: .* is ragged"),
    ("var-bad-dtype", lambda: tg.Variable(1.0, dtype="foo"), TE, "'foo' is not a tensor dtype"),
    ("var-lossy-dtype", lambda: tg.Variable(1.5, dtype="int32"), VE, "int32"),
    ("var-int-overflow", lambda: tg.Variable(np.array([2 ** 40]), dtype="int32"), VE,
     "do not fit in int32"),
    ("var-name-int", lambda: tg.Variable(1.0, name=3), TE, "Variable: name must be a string"),
    ("var-none", lambda: tg.Variable(None), TE, "Variable: cannot convert NoneType"),
    ("assign-shape", lambda: tg.Variable(np.zeros(2, "float32"), name="v").assign(np.zeros(3)),
     SE, r"'v' has shape \(2,\), the value \(3,\)"),
    ("assign-dtype", lambda: tg.Variable(np.zeros(2, "float32"), name="v").assign(
        tg.constant(np.zeros(2))), SE, "'v' is float32, the value is float64"),
    ("assign-str", lambda: tg.Variable(np.zeros(2, "float32")).assign("ab"), TE, "cannot convert str"),
    ("assign-add-int-to-float", lambda: tg.Variable(np.zeros(2, "float32"), name="v").assign_add(
        I3()[:2]), SE, "'v' is float32, the value is int32"),
    ("assign-value-shape", lambda: tg.Variable(np.zeros(2, "float32"), name="v").assign_value(
        np.zeros(3)), VE, r"Variable 'v': expected shape \(2,\), got \(3,\)"),
    ("assign-value-str", lambda: tg.Variable(np.zeros(2, "float32"), name="v").assign_value(
        np.array(["a", "b"])), TE, "Variable 'v': cannot convert"),
    ("assign-value-lossy", lambda: tg.Variable(np.zeros(1, "int32"), name="v").assign_value(
        np.array([0.5])), VE, "Variable 'v'"),
    ("assign-value-overflow", lambda: tg.Variable(np.zeros(1, "int8"), name="v").assign_value(
        np.array([300])), VE, "do not fit in int8"),
    # elementwise arithmetic
    ("add-shape", lambda: A() + tg.constant(np.ones(3, "float32")), SE, r"add .*cannot be broadcast"),
    ("add-dtype", lambda: A() + tg.constant(np.ones((3, 4))), TE, "add: dtypes differ"),
    ("sub-bool", lambda: B2() - B2(), SE, "subtract of bool tensors"),
    ("add-bool", lambda: B2() + B2(), SE, "add of bool tensors"),
    ("mul-bool", lambda: B2() * B2(), SE, "multiply of bool tensors"),
    ("div-bool", lambda: B2() / B2(), SE, "divide of bool tensors"),
    ("pow-bool", lambda: B2() ** B2(), SE, "power of bool tensors"),
    ("mul-shape", lambda: A() * tg.constant(np.ones((4, 3), "float32")), SE, "multiply"),
    ("div-shape", lambda: A() / tg.constant(np.ones((2,), "float32")), SE, "divide"),
    ("pow-shape", lambda: A() ** tg.constant(np.ones((2,), "float32")), SE, "power"),
    ("max-shape", lambda: tg.maximum(A(), tg.constant(np.ones(2, "float32"))), SE, "maximum"),
    ("min-dtype", lambda: tg.minimum(A(), tg.constant(np.ones((3, 4)))), TE, "minimum: dtypes differ"),
    ("int-plus-float", lambda: I3() + 0.5, TE, "not representable as int32"),
    ("int-times-str", lambda: I3() * "a", TE, "cannot convert str"),
    ("add-none", lambda: A() + None, TE, "cannot convert NoneType"),
    ("add-ragged", lambda: A() + [[1.0], [1.0, 2.0]], VE, "is ragged"),
    ("neg-int", lambda: -I3(), SE, "negative .*expected a floating-point tensor"),
    ("neg-bool", lambda: -B2(), SE, "expected a floating-point tensor"),
    ("abs-bool", lambda: tg.abs(B2()), SE, "expected a floating-point tensor"),
    ("softplus-int", lambda: tg.softplus(I3()), SE, "softplus .*floating-point"),
    ("where-float-cond", lambda: tg.where(A(), A(), A()), SE, "condition 'A' must be bool"),
    ("where-shape", lambda: tg.where(B2(), A(), A()), SE, "cannot be broadcast"),
    ("where-dtypes", lambda: tg.where(tg.constant([True, False, True, True]), A(),
                                      tg.constant(np.ones(4))), TE, "where: dtypes differ"),
    ("add_n-empty", lambda: tg.add_n([]), VE, "add_n: needs at least one tensor"),
    ("add_n-shape", lambda: tg.add_n([A(), tg.constant(np.ones((4, 3), "float32"))]), SE,
     "add_n .*one shape and dtype"),
    ("add_n-dtype", lambda: tg.add_n([A(), tg.constant(np.ones((3, 4)))]), SE, "one shape and dtype"),
    ("clip-str", lambda: tg.clip_by_value(A(), "a", 1.0), TE, "cannot convert str"),
    ("clip-shape", lambda: tg.clip_by_value(A(), np.zeros(2, "float32"), 1.0), SE, "maximum"),
    ("cmp-shape", lambda: tg.less(A(), tg.constant(np.ones(3, "float32"))), SE, "less .*broadcast"),
    ("cmp-dtype", lambda: tg.equal(A(), I3()), TE, "equal: dtypes differ"),
]
for _name in ["exp", "log", "tanh", "sigmoid", "relu", "sqrt", "sign", "hard_sigmoid"]:
    CASES.append((f"{_name}-int", lambda n=_name: getattr(tg, n)(I3()), SE,
                  "expected a floating-point tensor"))

CASES += [
    # reductions
    ("sum-axis-range", lambda: tg.reduce_sum(A(), axis=2), SE, "axis 2 is out of range for rank 2"),
    ("sum-axis-neg", lambda: tg.reduce_sum(A(), axis=-3), SE, "axis -3 is out of range"),
    ("sum-axis-str", lambda: tg.reduce_sum(A(), axis="a"), SE, "axis must be an int"),
    ("sum-axis-float", lambda: tg.reduce_sum(A(), axis=1.0), SE, "axis must be an int"),
    ("sum-axis-dup", lambda: tg.reduce_sum(A(), axis=[0, 0]), SE, "names an axis twice"),
    ("sum-axis-dup-neg", lambda: tg.reduce_sum(A(), axis=[1, -1]), SE, "names an axis twice"),
    ("sum-axis-bool", lambda: tg.reduce_sum(A(), axis=True), SE, "axis must be an int|out of range"),
    ("max-axis-range", lambda: tg.reduce_max(A(), axis=5), SE, "axis 5 is out of range"),
    ("mean-int", lambda: tg.reduce_mean(I3()), SE, "expected a floating-point tensor"),
    ("mean-axis-dup", lambda: tg.reduce_mean(A(), axis=(0, 0)), SE, "names an axis twice"),
    ("softmax-int", lambda: tg.softmax(I3()), SE, "floating-point"),
    ("softmax-axis", lambda: tg.softmax(A(), axis=3), SE, "axis 3 is out of range"),
    ("log_softmax-axis", lambda: tg.log_softmax(A(), axis=-4), SE, "out of range"),
    ("logsumexp-axis", lambda: tg.logsumexp(A(), axis=9), SE, "out of range"),
    # shape ops
    ("reshape-size", lambda: tg.reshape(A(), (5,)), SE, r"cannot reshape \(3, 4\) .* into \(5,\)"),
    ("reshape-two-minus", lambda: tg.reshape(A(), (-1, -1)), SE, "at most one -1"),
    ("reshape-neg", lambda: tg.reshape(A(), (-2, 6)), SE, "no other negative"),
    ("transpose-dup", lambda: tg.transpose(A(), [0, 0]), SE, "not a permutation of 2 axes"),
    ("transpose-len", lambda: tg.transpose(A(), [0, 1, 2]), SE, "not a permutation"),
    ("transpose-range", lambda: tg.transpose(A(), [0, 2]), SE, "not a permutation"),
    ("concat-empty", lambda: tg.concat([], 0), VE, "concat: needs at least one tensor"),
    ("concat-dim", lambda: tg.concat([A(), tg.constant(np.ones((2, 5), "float32"))], 0), SE,
     "dimension 1 differs: 5 vs 4"),
    ("concat-axis", lambda: tg.concat([A(), A()], 5), SE, "axis 5 is out of range"),
    ("concat-rank", lambda: tg.concat([A(), tg.constant(np.ones(3, "float32"))], 0), SE, "concat"),
    ("concat-dtype", lambda: tg.concat([A(), tg.constant(np.ones((3, 4)))], 0), (SE, TE), "concat|dtype"),
    ("stack-empty", lambda: tg.stack([]), VE, "stack: needs at least one tensor"),
    ("stack-shape", lambda: tg.stack([A(), tg.constant(np.ones((4, 3), "float32"))]), SE,
     "stack .*one shape and dtype"),
    ("stack-dtype", lambda: tg.stack([I3(), tg.constant(np.ones(3, "float32"))]), SE, "one shape and dtype"),
    ("stack-axis", lambda: tg.stack([A(), A()], axis=4), SE, "out of range"),
    ("unstack-unknown", lambda: tg.unstack(P()), SE, "dimension 0 of 'P' .* must be known"),
    ("unstack-axis", lambda: tg.unstack(A(), axis=2), SE, "out of range"),
    ("expand-axis", lambda: tg.expand_dims(A(), 5), SE, "axis 5 is out of range for rank 3"),
    ("squeeze-size", lambda: tg.squeeze(A(), 0), SE, "cannot squeeze axis 0 of size 3"),
    ("squeeze-axis", lambda: tg.squeeze(A(), 4), SE, "out of range"),
    ("reverse-axis", lambda: tg.reverse(A(), [3]), SE, "axis 3 is out of range"),
    ("split-uneven", lambda: tg.split(A(), 3, axis=1), SE, "cannot split dimension 1 .* into 3 equal"),
    ("split-zero", lambda: tg.split(A(), 0), SE, "into 0 equal parts"),
    ("split-sizes-sum", lambda: tg.split(A(), [1, 1], axis=1), SE, "do not add up to dimension 1"),
    ("split-sizes-over", lambda: tg.split(A(), [5, -1], axis=1), SE, "do not add up"),
    ("split-sizes-neg", lambda: tg.split(A(), [-2, 6], axis=1), SE, "do not add up"),
    ("split-two-minus", lambda: tg.split(A(), [-1, -1], axis=1), SE, "do not add up"),
    ("split-axis", lambda: tg.split(A(), 2, axis=2), SE, "out of range"),
    ("one_hot-float", lambda: tg.one_hot(A(), 3), SE, "indices 'A' must be integers"),
    ("one_hot-depth-neg", lambda: tg.one_hot(I3(), -1), VE, "depth must be a positive int, got -1"),
    ("one_hot-depth-float", lambda: tg.one_hot(I3(), 2.5), VE, "depth must be a positive int, got 2.5"),
    ("one_hot-depth-zero", lambda: tg.one_hot(I3(), 0), VE, "depth must be a positive int"),
    ("one_hot-dtype", lambda: tg.one_hot(I3(), 3, dtype="foo"), TE, "one_hot: 'foo' is not a tensor dtype"),
    ("cast-bad", lambda: tg.cast(A(), "foo"), TE, "'foo' is not a tensor dtype"),
    ("cast-str", lambda: tg.cast(A(), str), TE, "not a tensor dtype"),
    ("cast-object", lambda: tg.cast(A(), object), TE, "not a tensor dtype"),
    # matmul
    ("matmul-inner", lambda: tg.matmul(A(), A()), SE, "inner dimensions differ: 4 vs 3"),
    ("matmul-rank1", lambda: tg.matmul(I3(), I3()), SE, "both operands need rank >= 2"),
    ("matmul-dtype", lambda: tg.matmul(A(), tg.constant(np.ones((4, 2)))), (SE, TE), "dtype"),
    ("matmul-batch", lambda: tg.matmul(tg.constant(np.ones((2, 3, 4), "float32")),
                                       tg.constant(np.ones((5, 4, 2), "float32"))), SE, "matmul"),
    # indexing
    ("getitem-range", lambda: A()[5], IE, "index 5 is out of bounds for axis 0 with size 3"),
    ("getitem-neg-range", lambda: A()[-4], IE, "index -4 is out of bounds"),
    ("getitem-too-many", lambda: A()[1, 2, 3], IE, r"too many indices \(3\) for rank 2"),
    ("getitem-float", lambda: A()[1.5], TE, "index 1.5: only ints, slices"),
    ("getitem-list", lambda: A()[[0, 1]], TE, "use tg.gather"),
    ("getitem-tensor", lambda: A()[I3()], TE, "use tg.gather"),
    ("getitem-bool", lambda: A()[True], TE, "a bool is not an index"),
    ("getitem-np-bool", lambda: A()[np.bool_(False)], TE, "a bool is not an index"),
    ("getitem-two-ellipsis", lambda: A()[..., ...], IE, "single ellipsis"),
    ("getitem-step0", lambda: A()[::0], VE, "step of a slice cannot be 0"),
    ("getitem-str", lambda: A()["a"], TE, "only ints, slices"),
    ("getitem-second-axis", lambda: A()[:, 4], IE, "index 4 is out of bounds for axis 1 with size 4"),
    ("slice-rank", lambda: tg.slice(A(), [0], [1]), VE, "need one entry per axis"),
    ("slice-past-end", lambda: tg.slice(A(), [0, 0], [5, 4]), IE, "reach outside axis 0"),
    ("slice-neg-begin", lambda: tg.slice(A(), [-1, 0], [1, 1]), IE, "reach outside axis 0"),
    ("slice-begin-past", lambda: tg.slice(A(), [0, 5], [1, -1]), IE, "reach outside axis 1"),
    ("slice-size-neg", lambda: tg.slice(A(), [0, 0], [-2, 1]), IE, "size -1 for the rest"),
    ("gather-float-idx", lambda: tg.gather(A(), tg.constant([1.0])), SE, "indices .* must be integers"),
    ("gather-const-range", lambda: tg.gather(A(), [5]), IE, "index 5 is out of range for axis 0 of size 3"),
    ("gather-const-neg", lambda: tg.gather(A(), [-4]), IE, "index -4 is out of range"),
    ("gather-axis", lambda: tg.gather(A(), [0], axis=3), SE, "axis 3 is out of range"),
    ("gather-ids-neg", lambda: tg.gather(A(), [-1], negative=False), IE, r"out of range \[0, 3\)"),
    ("gather-axis1-range", lambda: tg.gather(A(), [4], axis=1), IE, "for axis 1 of size 4"),
    # fills and sources
    ("zeros-neg", lambda: tg.zeros((-1, 2)), VE, "negative dimension"),
    ("zeros-str", lambda: tg.zeros("ab"), TE, "shape must be a list or tuple"),
    ("zeros-float-dim", lambda: tg.zeros((2.5,)), TE, "shape entries must be ints"),
    ("zeros-dtype", lambda: tg.zeros((2,), "foo"), TE, "'foo' is not a tensor dtype"),
    ("ones-none-dim", lambda: tg.ones((None, 2)), TE, "shape entries must be ints"),
    ("fill-str-value", lambda: tg.fill((2,), "a"), TE, "cannot convert|not a tensor dtype"),
    ("fill-float-shape-tensor", lambda: tg.fill([tg.constant(2.0)], 1.0), VE,
     "must be a scalar int tensor"),
    ("ones_like-str", lambda: tg.ones_like("a"), TE, "cannot convert str"),
    ("zeros_like-none", lambda: tg.zeros_like(None), TE, "cannot convert NoneType"),
    # random ops
    ("uniform-seed-str", lambda: tg.random_uniform((2,), seed="x"), VE, "seed must be an integer"),
    ("uniform-seed-neg", lambda: tg.random_uniform((2,), seed=-1), VE, "seed must be an integer"),
    ("uniform-seed-float", lambda: tg.random_uniform((2,), seed=1.5), VE, "seed must be an integer"),
    ("normal-shape-neg", lambda: tg.random_normal((-2,)), VE, "negative dimension"),
    ("normal-dtype-int", lambda: tg.random_normal((2,), dtype="int32"), TE,
     "random_normal: dtype must be a float dtype, got int32"),
    ("uniform-dtype-bad", lambda: tg.random_uniform((2,), dtype="foo"), TE, "not a tensor dtype"),
    ("dropout-rate-high", lambda: tg.dropout_mask((2,), 1.5), VE, r"rate must be in \[0, 1\)"),
    ("dropout-rate-one", lambda: tg.dropout_mask((2,), 1.0), VE, r"rate must be in \[0, 1\)"),
    ("set-seed-str", lambda: tg.set_random_seed("x"), VE, "seed must be an integer"),
    ("set-seed-neg", lambda: tg.set_random_seed(-5), VE, "seed must be an integer"),
    ("max-empty-axis", lambda: tg.reduce_max(tg.constant(np.ones((0, 4), "float32")), axis=0), SE,
     "max over axis 0 of size 0"),
    ("reshape-float", lambda: tg.reshape(A(), (2.5, 4)), TE, r"reshape: shape: expected ints, got 2\.5"),
    ("reshape-str", lambda: tg.reshape(A(), "ab"), TE, "reshape: shape: expected a list or tuple"),
    ("transpose-str", lambda: tg.transpose(A(), "ab"), TE, "transpose: perm: expected a list"),
    ("transpose-float", lambda: tg.transpose(A(), [1.0, 0.0]), TE, "transpose: perm: expected ints"),
    ("slice-float-begin", lambda: tg.slice(A(), [0.5, 0], [1, 1]), TE, "slice: begin: expected ints"),
    ("slice-str-size", lambda: tg.slice(A(), [0, 0], "ab"), TE, "slice: size: expected a list"),
    ("identity-bad-control", lambda: tg.identity(A(), control_inputs=[3]), TE,
     "identity: control_inputs must be Tensors or ops, got int 3"),
    ("group-str", lambda: tg.group("a"), TE, "group: expected Tensors or ops"),
    ("group-list-with-int", lambda: tg.group([A(), 1]), TE, r"group: expected Tensors or ops \(Nodes\), got int 1"),
    ("stop_gradient-str", lambda: tg.stop_gradient("a"), TE, "cannot convert str"),
    ("init-neg-shape", lambda: tg.initializers.get("glorot_uniform")((-1, 2)), VE,
     "initializer 'glorot_uniform': negative dimension -1"),
    ("init-int-dtype", lambda: tg.initializers.get("glorot_uniform")((2, 2), "int32"), TE,
     "initializer 'glorot_uniform': dtype must be a float dtype, got int32"),
    ("init-normal-bool", lambda: tg.initializers.get("random_normal")((2,), "bool"), TE,
     "dtype must be a float dtype, got bool"),
    ("init-bad-dtype", lambda: tg.initializers.get("zeros")((2,), "foo"), TE, "not a tensor dtype"),
    ("init-name", lambda: tg.initializers.get("nope"), VE, "unknown initializer 'nope'; valid names"),
    ("init-orthogonal-1d", lambda: tg.initializers.get("orthogonal")((3,)), VE, "rank >= 2"),
    ("regularization-int", lambda: tg.losses.regularization_loss(3), TE,
     "regularization_loss: expected layers or Variables, got int 3"),
    # graph
    ("scope-slash", lambda: tg.name_scope("a/b").__enter__(), VE, "name_scope: expected a non-empty name"),
    ("scope-empty", lambda: tg.name_scope("").__enter__(), VE, "non-empty name"),
    ("scope-int", lambda: tg.name_scope(3).__enter__(), VE, "non-empty name"),
    ("tensor-bool", lambda: bool(A()), TE, "truth value of symbolic tensor 'A' is unknown"),
    ("tensor-iter", lambda: list(A()), TE, "is not iterable; use tg.unstack"),
    ("tensor-len-unknown", lambda: len(P((None,))), TE, "len"),
    ("other-graph", lambda: _other_graph_add(), VE, "belongs to another graph"),
    ("reset-inside", lambda: _reset_inside(), RuntimeError, "inside a `with graph.as_default"),
]


def _other_graph_add():
    g = tg.Graph()
    with g.as_default():
        x = tg.constant(1.0)
    return x + tg.constant(2.0)


def _reset_inside():
    with tg.Graph().as_default():
        tg.reset_default_graph()


@pytest.mark.parametrize("make,error,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_when_built(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_case_ids_are_distinct():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
