"""The page layer: settings table, URL state, words in both languages, charts and CSV export (no Streamlit)."""
