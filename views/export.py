"""Export: a finished run as a SavedModel that takes raw inputs, a .keras file and a model card, verified."""

import io
import json
import zipfile
from pathlib import Path

import streamlit as st

from views import common
from rnnstudio.errors import StudioError
from rnnstudio.export.run import DEFAULT_FORMATS, FORMATS


def zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder.parent))
    return buffer.getvalue()


st.title("Export")
runs = [r for r in common.registry().list(limit=200) if r.status == "completed"]
if not runs:
    common.empty_state("No finished run to export yet — train one first.", "Train")
    common.finish()
active = st.session_state.get("active_run")
ids = [r.run_id for r in runs]
picked = st.selectbox("Run", ids, index=ids.index(active) if active in ids else 0,
                      format_func=lambda i: next(f"{r.name} · {r.model} · {r.run_id}" for r in runs if r.run_id == i))
run = next(r for r in runs if r.run_id == picked)
formats = st.multiselect("Formats", list(FORMATS), default=list(DEFAULT_FORMATS),
                         help="savedmodel: TensorFlow SavedModel whose serving_default signature takes raw inputs "
                              "(preprocessing inside the graph); keras: the .keras model plus the fitted "
                              "preprocessing as JSON; tflite: the numeric core for LiteRT (token ids or scaled "
                              "windows in; preprocessing from pipeline.json).")
st.caption("Every export is loaded in a fresh Python process without RNN Studio and must reproduce the studio's "
           "predictions on held-back examples (≤ 1e-5 difference, 100 % label agreement) before it is kept.")
if st.button("Export and verify", type="primary", icon=":material/ios_share:", disabled=not formats):
    try:
        with st.spinner("Exporting and verifying in a fresh process…"):
            common.service("export").call("export", run_id=run.run_id, formats=formats)
    except StudioError as exc:
        common.show_error(exc)
    run = common.registry().get(run.run_id)

export = run.summary.get("export")
folder = Path(export["folder"]) if export else None
if folder is None or not folder.exists():
    st.info("Not exported yet.", icon=":material/info:")
    common.finish()
st.subheader("Verification")
for name, report in export["verification"].items():
    text = common.plain(f"{name}: {report.get('summary', '')}")
    (st.success if report.get("passed") else st.error)(text, icon=":material/verified:" if report.get("passed") else
                                                       ":material/error:")
card = folder / "MODEL_CARD.md"
left, right = st.columns(2)
left.download_button("Download the export (.zip)", zipped(folder), file_name=f"rnnstudio-{run.run_id}.zip",
                     mime="application/zip", icon=":material/download:")
if card.exists():
    right.download_button("Model card (Markdown)", card.read_text(encoding="utf-8"), file_name="MODEL_CARD.md",
                          icon=":material/description:")
    details = json.loads((folder / "model_card.json").read_text())
    st.subheader("Serving")
    st.markdown(f"`serving_default` inputs and outputs; serve with TensorFlow Serving from `{common.plain(folder)}/savedmodel`.")
    st.json(details.get("signature") or {})
    st.code(json.dumps(details["example_request"], ensure_ascii=False)[:3000], language="json")
    st.caption("Batch predictions from the command line: `python -m rnnstudio predict EXPORT_FOLDER --input new.csv "
               "--output predictions.csv`.")
