"""Which CheXpert labeler a command uses: the rule-based default or CheXbert with weights.

Every labeler has ``name`` (what tables print) and ``label_reports({id: text}) -> {id:
labels}``. Commands add the flags with ``add_flags`` and get the labeler with
``from_args``; without CheXbert weights the rule-based labeler is the default.
"""
from __future__ import annotations

import argparse
from typing import Dict, Mapping, Optional

from tfreport import labeler as rules

NAMES = ("rules", "chexbert")
RULES_NAME = "tfreport rule-based labeler"


class RuleLabeler:
    """tfreport's offline labeler (mention, negation, uncertainty), as a labeler object."""
    name = RULES_NAME

    def label_reports(self, reports: Mapping[str, str]) -> Dict[str, dict]:
        return rules.label_reports(reports)


RULES = RuleLabeler()


def get(name: str = "rules", chexbert_weights: Optional[str] = None, quiet: bool = True):
    """The labeler called ``name``; ``chexbert`` needs the converted weights folder."""
    if name == "rules":
        if chexbert_weights:
            raise ValueError("--chexbert_weights is given but --labeler is rules; "
                             "add --labeler chexbert to use CheXbert")
        return RULES
    if name == "chexbert":
        if not chexbert_weights:
            raise ValueError("--labeler chexbert needs --chexbert_weights FOLDER (the folder "
                             "`tfreport convert-chexbert` writes from the published checkpoint)")
        from tfreport.chexbert import CheXbertLabeler
        return CheXbertLabeler.load(chexbert_weights, quiet=quiet)
    raise ValueError(f"unknown labeler {name!r}; choose from {', '.join(NAMES)}")


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labeler", choices=NAMES, default="rules",
                        help="CheXpert labeler for CE figures: tfreport's rule-based one "
                             "(default, no weights) or CheXbert (needs --chexbert_weights)")
    parser.add_argument("--chexbert_weights", default=None, metavar="FOLDER",
                        help="converted CheXbert weights (tfreport convert-chexbert)")


def from_args(args: argparse.Namespace, parser: Optional[argparse.ArgumentParser] = None,
              quiet: bool = True):
    """The labeler the flags ask for; a bad combination is a usage error when ``parser``."""
    try:
        return get(args.labeler, args.chexbert_weights, quiet=quiet)
    except ValueError as e:
        if parser is None:
            raise
        parser.error(str(e))
