"""FakeScope dashboard: navigation only. Run with ``streamlit run streamlit_app/app.py``.

Each page is one file in ``views/``; shared resources are in ``resources.py``. The folder is not
called ``pages/`` on purpose: Streamlit treats a ``pages/`` folder beside the entry script as a
legacy multipage app, and a fresh server whose first request is a deep link (``/monitor``) would
then run that page file alone, without this navigation, for every session until someone opened
the root URL.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="FakeScope", page_icon=":material/image_search:", layout="wide")

pages = [
    st.Page("views/detect.py", title="Detect", icon=":material/image_search:", default=True),
    st.Page("views/monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("views/models.py", title="Models", icon=":material/deployed_code:"),
]
st.navigation(pages).run()
