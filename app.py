"""RNN Studio in the browser: `streamlit run app.py`.

Pages fill in a Recipe and call the rnnstudio library; training runs in
worker processes, so closing the tab never stops a run.
"""

import streamlit as st

from pages import common

st.set_page_config(page_title="RNN Studio", page_icon=":material/timeline:", layout="wide")

PAGE_FILES = [
    ("Start", "pages/start.py", ":material/home:"),
    ("Data", "pages/data.py", ":material/table_chart:"),
    ("Preprocess", "pages/preprocess.py", ":material/tune:"),
    ("Model", "pages/model.py", ":material/account_tree:"),
    ("Train", "pages/train.py", ":material/play_circle:"),
    ("Evaluate", "pages/evaluate.py", ":material/fact_check:"),
    ("Runs", "pages/runs.py", ":material/history:"),
]
pages = [st.Page(path, title=title, icon=icon, default=title == "Start", url_path=title.lower())
         for title, path, icon in PAGE_FILES]
common.PAGES.update({page.title: page for page in pages})
navigation = st.navigation(pages)
common.sidebar()
navigation.run()
