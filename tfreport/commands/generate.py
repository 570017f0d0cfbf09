"""Write a report for a study's images, as the legacy demo.py did, or for a folder of studies.

    python scripts/generate.py --img_frontal_path F.png --img_lateral_path L.png --model_path M [--beam_size 3]
    python scripts/generate.py --images_dir DIR --out preds.jsonl --model_path M

--model_path is a model directory (its best.keras) or a .keras file inside one. A folder of
studies is either one sub-folder per study (views told apart by "frontal"/"lateral" in the
file names, else by sorted order) or flat <study>_frontal.png / <study>_lateral.png files.
--out ending in .jsonl writes {"id", "report"} lines; .json writes one {id: report} object.
--attention_dir DIR writes, per study and sentence, both views with the sentence's heatmap
(DIR/<study>/sentence_NN.png) and DIR/index.json listing them: the model's attention where it
has one (CNN-RNN-Att, MRNA with spatial attention, M2's cross-attention), else the Grad-CAM of
the sentence's log-probability (CNN-RNN, Hier-RNN, MRNA without attention); the index says which.
An unreadable study is reported and skipped; the others are still written.
"""
import argparse
import json
import os
import sys

from tfreport import fileio
from tfreport.cli import add_seed_flags, apply_seed_flags, positive_int, run_main

BATCH = 16


def write_predictions(path: str, predictions: dict) -> None:
    tmp = path + ".partial"
    with fileio.open(tmp, "w", encoding="utf-8") as f:
        if path.endswith(".jsonl"):
            for sid, report in predictions.items():
                f.write(json.dumps({"id": sid, "report": report}) + "\n")
        else:
            json.dump(predictions, f, indent=1)
    fileio.replace(tmp, path)


class AttentionWriter:
    """--attention_dir: each study's per-sentence heatmaps, and the index at the end."""

    def __init__(self, gen, out_dir: str):
        self.gen, self.out_dir, self.index = gen, out_dir, []

    def study(self, sid: str, frontal: str, lateral, beam_size: int) -> str:
        """Decodes one study, writes its heatmaps, returns its report."""
        report, maps = self.gen.generate(frontal, lateral, beam_size, return_attention=True)
        self.add(sid, frontal, lateral, report, maps)
        return report

    def add(self, sid: str, frontal: str, lateral, report: str, maps) -> None:
        """Writes the heatmaps of a study already decoded."""
        from tfreport.attention_maps import write_study
        lat = self.gen.image(lateral) if lateral is not None else None
        self.index.append(write_study(self.out_dir, sid, self.gen.image(frontal), lat,
                                      report, maps))

    def finish(self) -> None:
        path = os.path.join(self.out_dir, "index.json")
        with fileio.open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.index, f, indent=1)
        fileio.replace(path + ".tmp", path)
        kinds = sorted({e["kind"] for e in self.index if e.get("kind")}) or ["no sentences"]
        print(f"Wrote per-sentence heatmaps ({', '.join(kinds)}) of {len(self.index)} "
              f"studies to {self.out_dir} "
              f"(index: {path})", file=sys.stderr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_path", required=True, help="model directory or .keras file")
    p.add_argument("--img_frontal_path", default=None)
    p.add_argument("--img_lateral_path", default=None, help="optional: masked out when absent")
    p.add_argument("--images_dir", default=None, help="a folder of studies (batch mode)")
    p.add_argument("--out", default=None, help="batch mode: predictions .jsonl or .json")
    p.add_argument("--beam_size", type=positive_int, default=3)
    p.add_argument("--attention_dir", default=None,
                   help="write per-sentence heatmaps over both views here (attention, "
                        "else Grad-CAM)")
    add_seed_flags(p)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if bool(args.img_frontal_path) == bool(args.images_dir):
        p.error("give either --img_frontal_path (one study) or --images_dir (a folder)")
    if args.images_dir and not args.out:
        p.error("--images_dir needs --out (predictions .jsonl or .json)")
    if args.out and not args.out.endswith((".jsonl", ".json")):
        p.error("--out must end in .jsonl or .json")
    if args.beam_size < 1:
        p.error("--beam_size must be at least 1")

    if args.out:  # before any decoding: a bad path must not cost the whole folder's reports
        from tfreport.errors import ensure_writable_file
        ensure_writable_file(args.out, "--out predictions file")
    apply_seed_flags(args)
    from tfreport.inference import ReportGenerator
    for path in (args.img_frontal_path, args.img_lateral_path):
        if path and not fileio.isfile(path):
            raise FileNotFoundError(f"{path}: image file not found")
    if args.attention_dir:
        from tfreport.errors import ensure_writable_dir
        ensure_writable_dir(args.attention_dir, "--attention_dir")
    gen = ReportGenerator.from_path(args.model_path)
    maps = AttentionWriter(gen, args.attention_dir) if args.attention_dir else None
    if args.img_frontal_path:
        if maps:
            report = maps.study("study", args.img_frontal_path, args.img_lateral_path,
                                args.beam_size)
            maps.finish()
        else:
            report = gen.generate(args.img_frontal_path, args.img_lateral_path, args.beam_size)
        print(report)
        return

    from tfreport.data.image_folder import find_studies
    from tfreport.progress import progress
    studies, problems = find_studies(args.images_dir)
    predictions = {}
    for start in progress(range(0, len(studies), BATCH), desc="generating", unit="batch",
                          disable=args.quiet):
        chunk = studies[start:start + BATCH]
        attend = maps is not None  # one decoding gives the report and, if asked, its maps
        try:
            results = gen.generate_batch([(f, l) for _, f, l in chunk], args.beam_size, attend)
        except (ValueError, FileNotFoundError):  # find the bad study, keep the others
            results = []
            for sid, f, l in chunk:
                try:
                    results.append(gen.generate(f, l, args.beam_size, attend))
                except (ValueError, FileNotFoundError) as e:
                    problems.append(f"study {sid}: {e}; skipped")
                    results.append(None)
        for (sid, f, l), result in zip(chunk, results):
            if result is None:
                continue
            report, sentence_maps = result if attend else (result, None)
            predictions[sid] = report
            if attend:
                maps.add(sid, f, l, report, sentence_maps)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not predictions:
        raise ValueError(f"{args.images_dir}: no study could be read, so no report was "
                         f"written ({len(problems)} problems, listed above)")
    write_predictions(args.out, predictions)
    if maps:
        maps.finish()
    print(f"Wrote {len(predictions)} reports to {args.out}"
          + (f" ({len(problems)} problems, listed above)" if problems else ""))


if __name__ == "__main__":
    run_main(main)
