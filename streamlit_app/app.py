"""FakeScope dashboard: navigation only. Run with ``streamlit run streamlit_app/app.py``.

Each page is one file in ``views/``; shared resources are in ``resources.py``. The folder is not
called ``pages/`` on purpose: Streamlit treats a ``pages/`` folder beside the entry script as a
legacy multipage app, and a fresh server whose first request is a deep link (``/monitor``) would
then run that page file alone, without this navigation, for every session until someone opened
the root URL.
"""

from __future__ import annotations

import components
import resources
import streamlit as st

st.set_page_config(page_title="FakeScope", page_icon=":material/image_search:", layout="wide")
# Also in .streamlit/config.toml; set here too because Streamlit reads that file from the working
# folder only, and an error's traceback shows server paths to whoever opened the page.
st.set_option("client.showErrorDetails", "none")

pages = [
    st.Page("views/detect.py", title="Detect", icon=":material/image_search:", default=True),
    st.Page("views/monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("views/models.py", title="Models", icon=":material/deployed_code:"),
]
# The model loads in the background from the first run of any page on (once per process and
# model), so no page waits for it before drawing; the pages that need it say it is loading.
resources.start_loading_quietly()
# The app's name and what it does, above every page's own title.
components.app_header()
# An uncaught error in a page shows a short message and a reference id; the traceback goes to the
# server log under the same id.
components.run_page(st.navigation(pages))
