"""Model: pick a zoo entry; its form comes from the registry's parameter metadata; see layers, size and cuDNN."""

import json

import streamlit as st

from views import common
from rnnstudio.errors import StudioError
from rnnstudio.recipe import recipe_from_dict
from rnnstudio.zoo.registry import get_model, list_models


@st.cache_data(show_spinner="Building the model (the first time starts TensorFlow in a helper process)…",
               max_entries=32)
def summary_of(recipe_json: str) -> dict:
    return common.service().call("summary", recipe=json.loads(recipe_json))


def _megabytes(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


st.title("Model")
recipe = common.recipe_dict()
task = common.task_of(recipe)
if not recipe["data"].get("source") or task is None:
    common.empty_state("No data yet — choose a file or a sample first.", "Data")
    common.finish()

families = [name for name in list_models() if task.input_kind in get_model(name).inputs]
current = recipe["model"].get("name")
left, right = st.columns([2, 3], gap="large")
with left:
    family = st.selectbox("Architecture", families, index=families.index(current) if current in families else 0,
                          format_func=lambda n: get_model(n).title, key=common.form_key("model.name"))
    if family != current:
        common.replace_recipe(recipe_from_dict(recipe).with_overrides({"model.name": family}))
        st.rerun()
    entry = get_model(family)
    doc = entry.doc.split("\n\n")
    st.caption(common.plain(doc[0]))
    with st.expander("When to use it"):
        st.markdown(common.plain("\n\n".join(doc[1:])))
    from rnnstudio.recipe import describe_section

    names = [m["name"] for m in describe_section("model", family) if m["name"] != "name"
             and m["name"] not in task.hidden_model_fields]
    common.section_form("model", names, model_name=family)

with right:
    checked, problems = common.validated_recipe()
    for problem in problems:
        common.show_error(problem)
    if checked is None:
        common.finish()
    try:
        summary = summary_of(json.dumps(checked.to_dict(), sort_keys=True))
    except StudioError as exc:
        common.show_error(exc)
        common.finish()
    cols = st.columns(3)
    cols[0].metric("Parameters", f"{summary['parameters']:,}")
    cols[1].metric("Trainable", f"{summary['trainable_parameters']:,}")
    memory = summary["memory_bytes"]
    cols[2].metric("Training memory (estimate)", _megabytes(memory["total"]),
                   help=f"Weights, gradients and optimizer state {_megabytes(memory['weights_and_optimizer'])}; "
                        f"activations for a batch of {memory['batch_size']}: {_megabytes(memory['activations'])}.")
    cudnn = summary["cudnn"]
    if cudnn["applies"] and not cudnn["blockers"]:
        st.success("On a GPU, the LSTM/GRU layers use the fast cuDNN kernel.", icon=":material/bolt:")
    elif cudnn["applies"]:
        st.warning("On a GPU these layers give up the cuDNN kernel (often ~10× slower): " +
                   common.plain(" ".join(cudnn["blockers"])), icon=":material/warning:")
    else:
        st.caption(common.plain(" ".join(cudnn["blockers"]) or "This architecture has no LSTM/GRU layers."))
    inputs = summary["inputs"]
    st.caption(f"Input: {inputs['kind']}, {inputs['seq_len']} steps"
               + (f", vocabulary {inputs['vocab_size']:,}" if inputs.get("vocab_size") else f", {inputs['n_features']} feature(s)")
               + f" · output: {summary['outputs']} · {summary['train_examples']:,} training examples")
    st.dataframe([{"layer": l["name"], "type": l["type"], "output shape": l["output_shape"],
                   "parameters": l["parameters"]} for l in summary["layers"]], width="stretch", hide_index=True)

st.page_link(common.PAGES["Train"], label="Next: train", icon=":material/arrow_forward:")
