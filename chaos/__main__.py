"""`python -m chaos` (`make chaos`): start a stack, inject every fault in turn, print the table;
`--docs docs/reliability.md` also writes the figures there; exit status 1 if any check failed."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from chaos import stack as stacks
from chaos.faults import full_plan, short_plan
from chaos.runner import Run, run, table
from tradebus import logs

BEGIN, END = "<!-- chaos:begin -->", "<!-- chaos:end -->"


def write_docs(path: Path, result: Run, quick: bool) -> None:
    """Replace the figures between the markers of `path` with this run's."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} section to write the figures into")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    kind = "short run (`python -m chaos --quick`)" if quick else "full run (`make chaos`)"
    block = f"{BEGIN}\nLatest {kind}, {when}:\n\n{table(result)}\n{END}"
    head, rest = text.split(BEGIN, 1)
    path.write_text(head + block + rest.split(END, 1)[1])


async def main_async(args: argparse.Namespace) -> Run:
    stack = stacks.start(Path(args.var) if args.var else None)
    print(f"chaos: stack starting in {stack.var} ...", flush=True)  # noqa: T201 -- CLI output
    try:
        names = tuple(name for name, _ in stacks.STRATEGIES)
        plan = short_plan(names) if args.quick else full_plan(names)
        return await run(stack, plan, seed=args.seed)
    finally:
        stacks.stop(stack, keep_var=args.keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short fault of each kind (as in CI)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random moments")
    parser.add_argument("--var", default="", help="the stack's var dir (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the var dir (logs) afterwards")
    parser.add_argument("--docs", default="", help="write the table into this Markdown file")
    args = parser.parse_args(argv)
    logs.configure("INFO", json=False)
    result = asyncio.run(main_async(args))
    print("\n" + table(result))  # noqa: T201 -- CLI output
    if args.docs:
        write_docs(Path(args.docs), result, args.quick)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
