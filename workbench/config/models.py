"""Where ``workbench assets --out models`` puts each model: the built-in default of every config's
model path. params.yaml's ``models:`` section holds the same paths for the pipeline (its stage
sections refer to them as ``${models.whisper}``); a test keeps the two equal."""

WHISPER = "models/whisper-base.pt"  # models.whisper: the seed ASR and the audio encoder of every study
TEXT_ENCODER = "models/all-MiniLM-L6-v2"  # models.text: the retrievers' pretrained text tower
LM = "models/SmolLM2-135M-Instruct"  # models.lm: the speech LLM and the near-miss LLM
