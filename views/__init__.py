"""The studio's pages (listed in app.py with st.navigation) and their shared pieces.

Not named pages/: Streamlit treats a pages/ folder next to the entry script as a
legacy multipage app and then runs a page without app.py around it (always in
AppTest, and on a server's first request), losing the sidebar and session handling.
"""
