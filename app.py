"""RNN Studio in the browser: `streamlit run app.py`.

Pages fill in a Recipe and call the rnnstudio library; training runs in
worker processes, so closing the tab never stops a run.
"""

import streamlit as st

from views import common

st.set_page_config(page_title="RNN Studio", page_icon=":material/timeline:", layout="wide")

PAGE_FILES = [
    ("Start", "views/start.py", ":material/home:"),
    ("Data", "views/data.py", ":material/table_chart:"),
    ("Preprocess", "views/preprocess.py", ":material/tune:"),
    ("Model", "views/model.py", ":material/account_tree:"),
    ("Train", "views/train.py", ":material/play_circle:"),
    ("Evaluate", "views/evaluate.py", ":material/fact_check:"),
    ("Export", "views/export.py", ":material/ios_share:"),
    ("Runs", "views/runs.py", ":material/history:"),
    ("Lessons", "views/lessons.py", ":material/school:"),
]
pages = [st.Page(path, title=title, icon=icon, default=title == "Start", url_path=title.lower())
         for title, path, icon in PAGE_FILES]
common.PAGES.update({page.title: page for page in pages})
navigation = st.navigation(pages)
common.restore_session()
try:
    navigation.run()
except common.PageDone:
    pass  # the page said what is missing and ended early
finally:
    common.save_session()  # also when the page asked for a rerun
# After the page, so the sidebar shows what the page just changed.
common.sidebar()
