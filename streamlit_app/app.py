"""FakeScope dashboard: navigation only. Each page lives in ``pages/``; shared resources in
``resources.py``. Run with ``streamlit run streamlit_app/app.py``."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="FakeScope", page_icon=":material/image_search:", layout="wide")

pages = [
    st.Page("pages/detect.py", title="Detect", icon=":material/image_search:", default=True),
    st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("pages/models.py", title="Models", icon=":material/deployed_code:"),
]
st.navigation(pages).run()
