"""The studio's pages (listed in app.py with st.navigation) and their shared pieces."""
