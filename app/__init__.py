"""Easel's Streamlit app: thin pages over automl and connectors."""
