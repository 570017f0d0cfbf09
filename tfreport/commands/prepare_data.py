"""Turn a raw dataset layout into prepared TFRecords.

    python scripts/prepare_data.py --dataset demo --out_dir data/demo/prepared
    python scripts/prepare_data.py --dataset iu_xray --raw_dir RAW --out_dir OUT
    python scripts/prepare_data.py --dataset iu_xray_rendered --raw_dir ../shared/data --out_dir OUT [--split r2gen|legacy]
    python scripts/prepare_data.py --dataset mimic_cxr --raw_dir JPG_ROOT [--reports_dir REPORTS_ROOT] --out_dir OUT
"""
import argparse
import json
import logging

from tfreport.cli import run_main


def main(argv=None):
    from tfreport.data.prepare import DATASETS
    from tfreport.data.study import MISSING_VIEW
    from tfreport.text import SECTIONS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--raw_dir", default=None,
                   help="raw layout; for demo, where the raw files are generated when missing "
                        "(default data/demo/raw); for iu_xray_rendered, the folder with the real "
                        "report CSVs and split files (e.g. ../shared/data)")
    p.add_argument("--render_dir", default=None,
                   help="iu_xray_rendered: where the rendered raw layout goes (default "
                        "data/iu_xray_rendered/raw; reused when it matches)")
    p.add_argument("--out_dir", required=True)
    p.add_argument("--images_dir", default=None)
    p.add_argument("--split", default=None, choices=["random", "legacy", "r2gen", "official"],
                   help="default: the layout's own (r2gen for R2Gen, legacy for legacy, official "
                        "for MIMIC-CXR), else random")
    p.add_argument("--reports_dir", default=None,
                   help="MIMIC-CXR: root of the report files files/pXX/p<subject>/s<study>.txt "
                        "(default: --raw_dir)")
    p.add_argument("--legacy_splits", default=None,
                   help="folder with the legacy train_split.json and test_split.json")
    p.add_argument("--r2gen_annotation", default=None, help="R2Gen annotation.json (for --split r2gen)")
    p.add_argument("--projections_csv", default=None,
                   help="Kaggle indiana_projections.csv: the views of NLM/legacy images")
    p.add_argument("--reports_csv", default=None,
                   help="Kaggle indiana_reports.csv: MeSH (normal flag) for R2Gen/legacy layouts")
    p.add_argument("--split_ratios", default=None, help="train,val,test (demo 0.7,0.1,0.2; else 0.8,0.1,0.1)")
    p.add_argument("--image_size", type=int, default=256, help="stored short side in pixels")
    p.add_argument("--missing_view", default=None, choices=MISSING_VIEW,
                   help="a study without a lateral view (default: drop for IU X-Ray, mask for "
                        "MIMIC-CXR)")
    p.add_argument("--sections", default=None, choices=SECTIONS,
                   help="default: impression+findings for IU X-Ray, findings_or_impression for "
                        "MIMIC-CXR")
    p.add_argument("--vocab_min_count", type=int, default=None,
                   help="vocabulary frequency threshold (default 1; 10 for MIMIC-CXR)")
    p.add_argument("--num_studies", type=int, default=None,
                   help="demo only: studies to generate (an existing demo raw folder with "
                        "another count is regenerated)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from tfreport.data.prepare import prepare
    summary = prepare(args.dataset, args.out_dir, args.raw_dir, images_dir=args.images_dir,
                      split=args.split, split_ratios=args.split_ratios, seed=args.seed,
                      image_size=args.image_size, missing_view=args.missing_view,
                      sections=args.sections, vocab_min_count=args.vocab_min_count,
                      projections_csv=args.projections_csv, reports_csv=args.reports_csv,
                      legacy_splits=args.legacy_splits, r2gen_annotation=args.r2gen_annotation,
                      reports_dir=args.reports_dir, render_dir=args.render_dir,
                      num_studies=args.num_studies, quiet=args.quiet)
    print(json.dumps({k: summary[k] for k in ("layout", "source", "counts", "normal", "abnormal",
                                              "dropped")}, indent=1))
    print(f"Prepared dataset written to {args.out_dir}")


if __name__ == "__main__":
    run_main(main)
