"""Activations on arrays (``xp`` is numpy or cupy): each forward writes into ``out``;
each ``d_<name>`` is the derivative written with the OUTPUT y = act(x), which is all a
fused kernel keeps. The activation table (ops/activations.py) names them per row."""


def tanh(xp, x, out):
    return xp.tanh(x, out=out)


def sigmoid(xp, x, out):
    xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def relu(xp, x, out):
    return xp.maximum(x, 0, out=out)


def linear(xp, x, out):
    out[...] = x
    return out


def hard(slope):
    def forward(xp, x, out):
        xp.multiply(x, slope, out=out)
        out += 0.5
        return xp.clip(out, 0.0, 1.0, out=out)
    return forward


def d_tanh(xp, y, out=None):
    if out is None:
        return 1.0 - y * y
    xp.multiply(y, y, out=out)
    return xp.subtract(1.0, out, out=out)


def d_sigmoid(xp, y, out=None):
    if out is None:
        return y * (1.0 - y)
    xp.subtract(1.0, y, out=out)
    out *= y
    return out


def d_relu(xp, y, out=None):
    return store(xp, (y > 0).astype(y.dtype), out)


def d_linear(xp, y, out=None):
    return store(xp, xp.ones_like(y), out)


def d_hard(slope):
    def grad(xp, y, out=None):
        return store(xp, ((y > 0) & (y < 1)).astype(y.dtype) * slope, out)
    return grad


def store(xp, value, out):
    if out is None:
        return value
    out[...] = value
    return out
