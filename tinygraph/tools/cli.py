"""``python -m tinygraph <command>``: the project's entry points.

Each command is two small functions: ``add_<name>(sub)`` declares its parser (and
``set_defaults(fn=<name>)``), ``<name>(args)`` runs it and returns an exit code.
To add a command, write both and append ``add_<name>`` to ``COMMANDS``.
"""
import argparse
import os
import shutil
import subprocess
import sys

import tinygraph as tg
from tinygraph.tools import bench as benchmarks
from tinygraph.tools.demo import EXAMPLES, QUICK, SEQ_LEN, STEPS, render_example, run as run_demo
from tinygraph.tools.viz import FORMATS


# --------------------------------------------------------------------------- demo

def _positive(text, least=1):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {v}")
    return v


def _at_least_two(text):
    return _positive(text, least=2)


def demo(args):
    return run_demo(out=args.out, steps=args.steps, quiet=args.quiet, quick=args.quick, T=args.seq_len,
               plot_format=args.plot_format)


def add_demo(sub):
    p = sub.add_parser("demo", help="train a small LSTM on a long-range task and show what it did",
                       description="Train an LSTM on the adding problem, then write pictures "
                                   "of the unrolled, fused and gradient graphs, gradient-flow "
                                   "plots (LSTM vs SimpleRNN) and a summary into --out.")
    p.add_argument("--out", default="tinygraph-demo", help="folder for the files it writes "
                   "(default: %(default)s)")
    p.add_argument("--steps", type=_positive, default=None,
                   help=f"training steps (default {STEPS}; {QUICK['steps']} with --quick)")
    p.add_argument("--seq-len", type=_at_least_two, default=None, metavar="T",
                   help=f"sequence length of the adding problem, at least 2 (default "
                        f"{SEQ_LEN}; {QUICK['T']} with --quick)")
    p.add_argument("--plot-format", default="png", choices=["png", "svg", "pdf"],
                   help="format of the gradient-flow plots (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="a tiny setting that runs in seconds")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(fn=demo)


# --------------------------------------------------------------------------- viz

def viz(args):
    if args.list or args.source is None:
        print("examples (python -m tinygraph viz NAME [-o FILE]):")
        for name, (doc, _) in EXAMPLES.items():
            print(f"  {name:16s} {doc}")
        print("or a saved DOT file: python -m tinygraph viz graph.dot -o graph.svg")
        return 0 if args.list else 2
    fmt = args.format
    if args.source.endswith(".dot") or os.path.exists(args.source):
        out = args.output or os.path.splitext(args.source)[0] + "." + (fmt or "svg")
        path = _render_dot_file(args.source, out, fmt)
    else:
        if args.source not in EXAMPLES:
            print(f"viz: {args.source!r} is neither a file nor an example; examples: "
                  f"{', '.join(EXAMPLES)}", file=sys.stderr)
            return 2
        out = args.output or f"{args.source}.{fmt or 'svg'}"
        try:
            path, err = render_example(args.source, out, T=args.steps, format=fmt)
        except TypeError as e:      # an example drawn as a picture only (heatmap)
            print(f"viz: {e}", file=sys.stderr)
            return 2
        if err:
            print(f"viz: {err}", file=sys.stderr)
            return 1
    print(f"wrote {path}")
    return 0


def _render_dot_file(src, out, fmt):
    fmt = fmt or os.path.splitext(out)[1][1:].lower() or "svg"
    if fmt not in FORMATS:
        raise SystemExit(f"viz: format must be one of {FORMATS}, got {fmt!r}")
    if not os.path.exists(src):
        raise SystemExit(f"viz: no such file {src!r}")
    if shutil.which("dot") is None:
        raise SystemExit("viz: Graphviz's `dot` program is missing; install Graphviz "
                         "(apt-get install graphviz | brew install graphviz), then run again")
    subprocess.run(["dot", f"-T{fmt}", src, "-o", out], check=True)
    return out


def add_viz(sub):
    p = sub.add_parser("viz", help="render an example graph or a saved .dot file to SVG/PNG/PDF, "
                              "or an example to an interactive HTML page (-o FILE.html)",
                       description="Render one of the example graphs (see --list) or a DOT "
                                   "file written by tg.viz.save_dot / tg.viz.render.")
    p.add_argument("source", nargs="?", help="an example name (see --list) or a .dot file")
    p.add_argument("-o", "--output", help="output file (default: <source>.svg)")
    p.add_argument("--format", choices=["svg", "png", "pdf", "html"],
                   help="default: from -o, else svg; html: the interactive page")
    p.add_argument("--steps", type=int, default=4, help="time steps of the example (default 4)")
    p.add_argument("--list", action="store_true", help="list the examples")
    p.set_defaults(fn=viz)


# --------------------------------------------------------------------------- bench

def bench(args):
    unknown = [w for w in args.workloads or [] if w not in benchmarks.WORKLOADS]
    if unknown:
        print(f"python -m tinygraph bench: unknown workload {unknown[0]!r}; choose from "
              + ", ".join(benchmarks.WORKLOADS), file=sys.stderr)
        return 2
    benchmarks.run(workloads=args.workloads, rounds=args.rounds, threads=args.threads,
          peers=not args.no_peers, json_path=args.json, quick=args.quick,
          backends=args.backend or ())


def add_bench(sub):
    p = sub.add_parser("bench", help="LSTM speed side by side with PyTorch, Keras and JAX",
                       description="The benchmarks of BENCH.md: interleaved rounds, medians and "
                                   "ratios to tinygraph fused; peers that are not installed are "
                                   "reported as such.")
    p.add_argument("workloads", nargs="*", metavar="workload",
                   help=f"any of {', '.join(benchmarks.WORKLOADS)} (default: all)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per contender (default 5)")
    p.add_argument("--threads", type=int, default=2, help="BLAS / framework threads (default 2)")
    p.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    p.add_argument("--no-peers", action="store_true", help="tinygraph only")
    p.add_argument("--quick", action="store_true", help="tiny shapes (a smoke test)")
    p.add_argument("--backend", action="append", metavar="NAME",
                   help="also time the fused LSTM on this backend, e.g. --backend cupy "
                        "(repeatable; an unusable one is reported with the reason)")
    p.set_defaults(fn=bench)


# --------------------------------------------------------------------------- backends

def backends(args):
    default = tg.backends.default()
    for name, (ok, reason) in tg.backends.status().items():
        mark = " (default)" if name == default else ""
        print(f"{name}{mark}: " + ("available" if ok else f"unavailable: {reason}"))
    return 0


def add_backends(sub):
    p = sub.add_parser("backends", help="which backends can run here, and why not",
                       description="List every backend, whether it can run on this machine "
                                   "and, if not, what is missing; marks the default one "
                                   "(tg.backends.set_default / TINYGRAPH_BACKEND).")
    p.set_defaults(fn=backends)


# --------------------------------------------------------------------------- main

COMMANDS = [add_demo, add_viz, add_bench, add_backends]


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tinygraph",
                                description="tinygraph: see and understand recurrent networks")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    for add in COMMANDS:
        add(sub)
    return p


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return args.fn(args) or 0
