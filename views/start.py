"""The first screen: what the studio does, and a one-click sample run."""

import streamlit as st

from views import common
from rnnstudio.data.samples import list_samples
from rnnstudio.recipe import default_recipe
from rnnstudio.data.load import sample_defaults
from rnnstudio.runs.jobs import submit

st.title("RNN Studio")
st.markdown(
    "Train a recurrent neural network on your own sequences — text, series or measurements — without writing code. "
    "Pick your data on the **Data** page, adjust the steps if you like, and press **Start** on the **Train** page; "
    "live charts show how it learns.")

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Try it in one click")
    st.markdown("Trains a small GRU on 2,000 generated movie reviews (positive or negative) with the default "
                "settings; it takes well under a minute on a laptop.")
    if st.button("Train on the sample reviews", type="primary", icon=":material/rocket_launch:"):
        source = "sample:reviews"
        recipe = default_recipe(source=source, **sample_defaults(source))
        common.replace_recipe(recipe)
        run = submit(recipe, registry=common.registry(), owner=common.owner(), name="sample reviews")
        common.set_active_run(run.run_id)
        st.switch_page(common.PAGES["Train"])
    st.page_link(common.PAGES["Data"], label="Or start with your own file", icon=":material/upload_file:")
with right:
    st.subheader("Built-in samples")
    for sample in list_samples():
        st.markdown(f"**{sample.name}** · {sample.task}  \n{common.plain(sample.description)}")
