# gradviz as one container: the README's `streamlit run app.py` on port 8501, as a non-root user.
#   docker build -t gradviz . && docker run --rm -p 8501:8501 gradviz      (then open http://localhost:8501)
# The shipped results (gradviz/data/precomputed.pkl.gz) are rebuilt for the image's own numpy and BLAS, so the
# first visitor of a fresh container is answered at once. See docs/deploy.md.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/gradviz

RUN useradd --create-home --home-dir /home/gradviz --uid 10001 gradviz
WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY .streamlit/ .streamlit/
COPY app.py pyproject.toml README.md ./
COPY gradviz/ gradviz/
COPY examples/ examples/
COPY scripts/precompute.py scripts/

# The shipped results are used only in the numerical environment they were computed in (numpy, its CPU kernels,
# BLAS): computed here for this image's (about 15 s on 2 cores), and the code compiled once, as root, so the
# read-only tree is not recompiled at every start.
RUN python scripts/precompute.py && python -m compileall -q gradviz app.py

USER gradviz
EXPOSE 8501

# /_stcore/health answers within milliseconds even under load (the computations run in worker processes).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]

CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
