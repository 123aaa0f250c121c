"""The ``semcom`` command.

Every sub-command is a thin wrapper over a ``run(config) -> Results`` function that the tests call
too. Each writes its JSON (with provenance) and plots under ``results/<command>/`` unless ``--out``
says otherwise.

    semcom demo                       the main job: separation baselines over the 5G link, HTML report
    semcom compare --systems ...      any systems (built-in or --plugin) on the same link, data and budget
    semcom link                       BLER versus SNR per MCS and channel (bit-true or abstracted)
    semcom link tables                semcom's code-block BLER tables: generate them, or check them (--heldout)
    semcom link decodability          the code-block layouts belief propagation can never decode (a scan)
    semcom link olla                  outer-loop link adaptation in a sequence run over correlated fading
    semcom baseline                   PSNR / MS-SSIM versus SNR for classical codecs over the link
    semcom train MODEL --config F     train deepjscc, adjscc, vlscc2d, scc, vlscc1d, scc1d (JSCC trainer) or seb (its extractor)
    semcom bench ldpc                 fast LDPC decoder versus Sionna's (throughput, BLER)
    semcom bench link                 the compiled NR chain versus Sionna's (throughput per stage, end to end)
    semcom prt table1                 prt allocators versus the paper's Table I
    semcom prt sweep                  keypoint video conferencing: ALD / PSNR / SSIM versus CBLER, and H.265
    semcom prt train-concealer        train the prt error concealer (fully connected, 2 x 80 ReLU)
    semcom prt keypoint               checks of the keypoint application (detector, synthesiser, concealers)
    semcom vlscc sweep                learned JSCC versus the separation baseline
    semcom vlscc 1d                   VL-SCC 1D versus SCC 1D on face-landmark vectors
    semcom seb sweep | kb-update | granularity    the seb experiments
    semcom fuzz                       the fuzz table: every decoder, loader, config and CLI option fed hostile input
    semcom sesc qos | similarity | weights | visual   the SE-SC experiments (Figs. 2, 4, 5; Table I weights)
    semcom sesc train-weights | codecs    the SE-SC relevance CNN's training; transformer versus CNN codec
    semcom lsci rate | transmit | propagation | enhance | timing | train | train-slice   the LSCI experiments

Options are parsed and checked by :mod:`semcom.cliargs` before any work (ranges, physical limits,
a writable ``--out``, a reachable ``--cluster``); negative values parse without ``=``
(``--snr -2:6:1``). The command never shows a traceback: errors are one line (see :func:`guarded`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from semcom.cliargs import guarded  # noqa: F401 - the CLI's error handling, also semcom.cli.guarded

# (command path, module, help). A module exposes ``add_arguments(parser)`` and ``main_from_args(args)``,
# or a plain ``main(argv)`` when it owns its parser (marked with raw=True).
COMMANDS: list[tuple[tuple[str, ...], str, str, bool]] = [
    (("demo",), "semcom.experiments.demo", "run the main job and write the HTML report", False),
    (("compare",), "semcom.experiments.compare", "any systems on the same link, data, SNR grid and channel-use budget", True),
    (("link", "tables"), "semcom.experiments.link_tables", "semcom's code-block BLER tables: generate (bit-true link) or --heldout check", True),
    (("link", "decodability"), "semcom.experiments.link_decodability", "the code-block layouts belief propagation can never decode", True),
    (("link", "olla"), "semcom.experiments.link_olla", "outer-loop link adaptation: separation over AR(1) fading with a delayed, biased CSI report", True),
    (("link",), "semcom.experiments.link_bler", "code-block error rate versus SNR over the 5G NR link", False),
    (("baseline",), "semcom.experiments.separation_sweep", "classical codec + 5G LDPC + QAM versus SNR", False),
    (("train",), "semcom.cli", "train a learned model: semcom train {deepjscc,vlscc2d,scc,vlscc1d,scc1d,seb} --config ...", True),
    (("bench", "ldpc"), "semcom.experiments.bench_ldpc", "fast LDPC decoder versus Sionna's", True),
    (("bench", "link"), "semcom.experiments.bench_link", "the compiled NR chain versus Sionna's: Mbit/s per stage", True),
    (("prt", "table1"), "semcom.experiments.prt_table1", "prt allocators versus the paper's Table I", True),
    (("prt", "sweep"), "semcom.experiments.prt_sweep", "keypoint video conferencing over code blocks versus H.265 (Figs. 2-4)", True),
    (("prt", "train-concealer"), "semcom.experiments.prt_concealer", "train the prt error concealer (fully connected, 2 x 80 ReLU)", True),
    (("prt", "keypoint"), "semcom.experiments.prt_keypoint", "prt keypoint application checks (detector, synthesiser ALD, importance, concealers)", True),
    (("vlscc", "sweep"), "semcom.experiments.vlscc_sweep", "learned JSCC (VL-SCC, SCC, DeepJSCC) versus HEIF + 5G LDPC", True),
    (("vlscc", "1d"), "semcom.experiments.vlscc_1d", "VL-SCC 1D versus SCC 1D on face-landmark vectors: landmark error versus SNR", True),
    (("seb", "sweep"), "semcom.experiments.seb_sweep", "seb with UEP / random UEP / no UEP versus codecs over the link", True),
    (("seb", "kb-update"), "semcom.experiments.seb_kb_update", "seb knowledge-base update under changing intent", True),
    (("seb", "granularity"), "semcom.experiments.seb_granularity", "seb fine-Seb ratio versus CBR, quality and accuracy", True),
    (("fuzz",), "semcom.fuzz", "the fuzz table: corrupted input to every decoder, loader, config and CLI option", True),
    (("sesc", "qos"), "semcom.experiments.sesc_qos", "SE-SC face-detection AP versus SNR over slow Rayleigh, against JPEG2000 + 5G LDPC (Fig. 5)", True),
    (("sesc", "similarity"), "semcom.experiments.sesc_similarity", "SE-SC semantic similarity versus the number of sent features (Fig. 2)", True),
    (("sesc", "weights"), "semcom.experiments.sesc_weights", "SE-SC task-relevance versus entropy weights at equal symbols (Table I)", True),
    (("sesc", "visual"), "semcom.experiments.sesc_visual", "SE-SC visual example: weights, sent patches, reconstruction, detections (Fig. 4)", True),
    (("sesc", "codecs"), "semcom.experiments.sesc_codecs", "SE-SC masked transformer versus masked CNN codec at equal keep ratios (Table I)", True),
    (("sesc", "train-weights"), "semcom.experiments.sesc_train_weights", "train the SE-SC relevance CNN (weight model (a), learned) and export its checkpoint", True),
    (("lsci",), "semcom.experiments.lsci", "LSCI: semcom lsci {train,train-slice,rate,transmit,propagation,enhance,timing}", True),
]


def train_main(argv: Sequence[str]) -> int:
    """``semcom train MODEL ...``: the seb extractor has its own trainer, the JSCC models share one."""
    argv = list(argv)
    if argv and argv[0] == "seb":
        from semcom.experiments import seb_train

        return int(seb_train.main(argv[1:]) or 0)
    from semcom.experiments import train

    return int(train.main(argv) or 0)


def _build_parser() -> tuple[argparse.ArgumentParser, dict]:
    from semcom.cliargs import ArgumentParser

    parser = ArgumentParser(
        prog="semcom",
        description="Semantic communications over standard-compliant 5G NR links.",
    )
    from semcom import __version__

    parser.add_argument("--version", action="version", version=f"semcom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    handlers: dict = {}
    verbs = {p[0] for p, *_ in COMMANDS if len(p) == 1}
    for path, module, help_text, raw in COMMANDS:
        if len(path) > 1 and path[0] in verbs:
            continue  # e.g. `link tables` under the verb `link`: dispatched by its first words (_dispatch)
        if len(path) == 1:
            target = sub
        else:
            if path[0] not in groups:
                gp = sub.add_parser(path[0], help=f"{path[0]} commands")
                groups[path[0]] = gp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
            target = groups[path[0]]
        if raw:
            p = target.add_parser(path[-1], help=help_text, add_help=False)
            p.add_argument("rest", nargs=argparse.REMAINDER)
        else:
            mod = importlib.import_module(module)
            more = [f"semcom {' '.join(q)}: {h} (see 'semcom {' '.join(q)} --help')"
                    for q, _m, h, _r in COMMANDS if len(path) == 1 and len(q) > 1 and q[0] == path[0]]
            p = target.add_parser(path[-1], help=help_text, description=(mod.__doc__ or help_text).strip().split("\n\n")[0],
                                  epilog="\n".join(more) or None)
            mod.add_arguments(p)
        handlers[path] = (module, raw)
    return parser, handlers


#: verbs that take ``--plugin`` themselves (and record it in their provenance)
OWN_PLUGIN_OPTION = {("compare",), ("train",)}


def _load_plugins(argv: list[str]) -> list[str]:
    """Load the ``semcom.plugins`` entry points and every ``--plugin M`` of a verb that does not take the
    option itself (removed from ``argv``); returns the remaining arguments."""
    from semcom.systems.plugins import load_entry_points, load_plugin

    load_entry_points()
    if any(tuple(argv[: len(p)]) == p for p in OWN_PLUGIN_OPTION):
        return argv
    rest, it = [], iter(argv)
    for a in it:
        if a == "--plugin":
            load_plugin(next(it, ""))
        elif a.startswith("--plugin="):
            load_plugin(a.split("=", 1)[1])
        else:
            rest.append(a)
    return rest


def _dispatch(argv: list[str]) -> int:
    """Run the verb ``argv`` names (after loading its plugins); errors propagate to :func:`main`."""
    argv = _load_plugins(argv)
    # Commands that own their parser get every argument after their name, options included.
    for path, module, _help, raw in COMMANDS:
        if raw and tuple(argv[: len(path)]) == path:
            mod = importlib.import_module(module)
            entry = train_main if path == ("train",) else mod.main
            return int(entry(argv[len(path):]) or 0)
    parser, handlers = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    path = (args.command,) + ((args.subcommand,) if getattr(args, "subcommand", None) else ())
    if path not in handlers:  # a group without its sub-command: its help, and exit code 2
        try:
            parser.parse_args([args.command, "--help"])
        except SystemExit:
            pass
        return 2
    module, _raw = handlers[path]
    return int(importlib.import_module(module).main_from_args(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``semcom`` command; see :func:`guarded` for what an error looks like."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return guarded(_dispatch, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
