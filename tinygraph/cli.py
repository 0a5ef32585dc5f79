"""``python -m tinygraph <command>``: the project's entry points."""
import argparse
import sys


def _demo(args):
    from tinygraph.demo import run
    return run(out=args.out, steps=args.steps, quiet=args.quiet)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m tinygraph",
                                description="tinygraph: see and understand recurrent networks")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train a small LSTM on a long-range task and show what it did")
    d.add_argument("--out", default="tinygraph-demo", help="folder for the files it writes")
    d.add_argument("--steps", type=int, default=600, help="training steps")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(fn=_demo)
    return p


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return args.fn(args) or 0
