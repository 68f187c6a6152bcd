"""The floor the page's browser times are compared with: a one-chart Streamlit page, served and timed the same way
(scripts/bench.py --page). One Altair line chart of 30 points and one toggle that changes its data."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="one chart", layout="wide")
st.title("One chart")
steep = st.toggle("Steeper", key="steep")
x = np.arange(30)
frame = pd.DataFrame({"x": x, "y": np.exp((0.3 if steep else 0.1) * x)})
st.altair_chart(alt.Chart(frame).mark_line(point=True).encode(x="x:Q", y=alt.Y("y:Q", scale=alt.Scale(type="log"))),
                width="stretch")
