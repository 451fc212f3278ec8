# The team's vocabulary. `make demo` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON_VERSION := 3.11
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
SAM := $(TOOLS)/sam/bin/sam
PY312 := $(shell ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin 2>/dev/null | head -n 1)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: install demo up test unit integration lint typecheck template-checks validate build deploy clean sync-prompts

UV := $(TOOLS)/uv/bin/uv
export UV_PYTHON_DOWNLOADS := never

# uv lives apart from the project's environment, which `uv sync` keeps exactly equal to uv.lock.
$(UV):
	python3 -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet --disable-pip-version-check "uv==0.13.8"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON_VERSION) --extra local --extra langchain --extra evaluation --group dev --group bench
	touch $@

install: $(VENV)/.synced  ## the platform, its local mode and the dev tools, from uv.lock

$(SAM):
	python3 -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/pip install --quiet --disable-pip-version-check "aws-sam-cli==1.170.0"

node_modules/.bin/asl-validator: package.json package-lock.json
	npm ci --silent --no-audit --no-fund

demo: install  ## start the platform, ingest the demo corpus, ask questions
	$(BIN)/llmops demo

up: install  ## run the platform locally until Ctrl+C
	$(BIN)/llmops up

unit: install
	$(BIN)/pytest tests/unit -q

integration: install
	$(BIN)/pytest tests/integration -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

validate: $(SAM)  ## sam validate --lint, offline
	$(SAM) validate --template template.yaml
	$(SAM) validate --lint --template template.yaml

build: $(SAM)  ## sam build, offline (needs pyenv's Python 3.12 on PATH)
	PATH="$(PY312):$$PATH" $(SAM) build --template template.yaml

template-checks: install validate build node_modules/.bin/asl-validator
	$(BIN)/pytest tests/template -q

test: install lint typecheck template-checks  ## everything CI runs
	$(BIN)/pytest tests/unit tests/integration -q

deploy: build  ## the deployment publishes prompts/*.yaml itself (PromptCatalogSync)
	$(SAM) deploy --config-env dev

# Publish prompts/*.yaml into a deployed stack's catalog without deploying (each deployment does it too): a changed
# file becomes the next version; `prod` is set only on prompts that have none. Uses your AWS credentials.
STACK ?= llmops-dev
sync-prompts: install  ## publish prompts/*.yaml into STACK's prompt catalog (PromptsTableName output)
	$(BIN)/llmops prompts sync --dir prompts --stack $(STACK) --alias prod --if-missing

.PHONY: bench-ingest
# Ingestion throughput: our pipeline into LanceDB vs the embedding model alone vs a naive LangChain pipeline, on the
# Python documentation from Debian's python3.11-doc (installed here if missing). Results also go to bench/results/.
bench-ingest: install  ## ingestion benchmark; options in BENCH_ARGS, e.g. BENCH_ARGS="--max-mb 10 --repeats 3"
	@test -d /usr/share/doc/python3.11/html/library || { echo "Installing the benchmark corpus: python3.11-doc"; \
		$$([ "$$(id -u)" = 0 ] || echo sudo) apt-get install -y python3.11-doc; }
	$(BIN)/python -m bench.ingest $(BENCH_ARGS)

.PHONY: bench-quality
# Retrieval quality (recall@k, MRR, nDCG@10 for vector, full-text and hybrid) and abstention, on the Python FAQ from
# python3.11-doc; writes bench/quality/REPORT.md. BENCH_ARGS="--with-llm 30" also runs the whole answering service.
bench-quality: install  ## retrieval quality and abstention benchmark
	@test -d /usr/share/doc/python3.11/html/faq || { echo "Installing the benchmark corpus: python3.11-doc"; \
		$$([ "$$(id -u)" = 0 ] || echo sudo) apt-get install -y python3.11-doc; }
	$(BIN)/python -m bench.quality.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam node_modules .pytest_cache .mypy_cache .ruff_cache
