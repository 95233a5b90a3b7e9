# The paper's ImageNet experiments (Ramanujan et al., CVPR 2020, §4.3) as targets of
# examples/Makefile, with the official recipe (popup-train --preset imagenet, from
# allenai/hidden-networks configs/largescale):
#   make -C examples imagenet-resnet50 IMAGENET=DIR          edge-popup, k 0.3, signed-constant
#   make -C examples imagenet-resnet50-dense IMAGENET=DIR    the learned dense baseline
#   make -C examples imagenet-plan                           the commands and times; runs nothing
# One run per target and setting in $(BUILD)/experiments/imagenet/NAME/ (NAME: e.g.
# resnet50-k0.3-s0, resnet50-k0.3-scaled-s0, resnet50-dense-s0): NAME.recipe, NAME.ckpt (every
# CHECKPOINT_EVERY and on Ctrl-C), NAME.jsonl (one line per epoch), NAME.mask (NAME.weights for
# dense), NAME.eval.json (popup-eval --json on the validation set), NAME.done (the command and
# its seconds). The same target again: done (skipped), or resumed from NAME.ckpt.

IMAGENET         ?=
SEED             ?= 0
K                ?= 0.3
SCALED           ?= 0
WORKERS          ?=
DEVICE           ?=
CHECKPOINT_EVERY ?= 1000steps
IMAGENET_ARGS    ?=
# for trials on a small folder: the input size and class count of the recipe
IMAGE_SIZE       ?= 224
CLASSES          ?= 1000

IMAGENET_NETS    := resnet50 resnet101 wide-resnet50 wide-resnet101
IMAGENET_TARGETS := $(IMAGENET_NETS:%=imagenet-%) $(IMAGENET_NETS:%=imagenet-%-dense)
.PHONY: $(IMAGENET_TARGETS) imagenet-plan

# Training images/s of edge-popup steps of batch 32 at 3x224x224 on the quiet 2-core machine
# examples/README.md names (popup-bench, medians; see RESULTS.md), for the time a plan prints:
# an extrapolation, not a measured run. Evaluation is taken as 4x faster per image (measured
# 2.4-3.1x for these nets, so the plan errs short by well under 1%).
IMAGENET_IPS_resnet50       := 7.03
IMAGENET_IPS_resnet101      := 3.81
IMAGENET_IPS_wide-resnet50  := 2.80
IMAGENET_IPS_wide-resnet101 := 1.36

# $(call imagenet_*,TARGET)
imagenet_net   = $(patsubst imagenet-%,%,$(patsubst %-dense,%,$1))
imagenet_dense = $(filter %-dense,$1)
imagenet_scale = $(if $(call imagenet_dense,$1),,$(filter 1,$(SCALED)))
imagenet_name  = $(call imagenet_net,$1)$(if $(call imagenet_dense,$1),-dense,-k$(K))$(if \
  $(call imagenet_scale,$1),-scaled)-s$(SEED)
imagenet_out   = $(BUILD_DIR)/experiments/imagenet/$(call imagenet_name,$1)
imagenet_ext   = $(if $(call imagenet_dense,$1),weights,mask)
# The official subnetwork configs (*-usc-unsigned.yaml, lr 0.256) use signed-constant weights
# without scaling; SCALED=1 follows resnet50-sc-unsigned.yaml instead: popup-init --scale (std
# times 1/sqrt(k)) and lr 0.1. The dense baselines (baselines/*-dense.yaml): kaiming-normal,
# learned affine BatchNorm (popup-train --method dense), the same recipe.
imagenet_init  = popup-init --arch $(call imagenet_net,$1) --input 3x$(IMAGE_SIZE)x$(IMAGE_SIZE) \
  --classes $(CLASSES) \
  $(if $(call imagenet_dense,$1),--init kaiming-normal,--init signed-constant) \
  $(if $(call imagenet_scale,$1),--scale --k $(K)) --seed $(SEED) --recipe
imagenet_train = popup-train --data imagenet:$(or $(IMAGENET),DIR) --preset imagenet \
  $(if $(call imagenet_dense,$1),--method dense,--k $(K)) \
  $(if $(call imagenet_scale,$1),--lr 0.1) $(if $(filter-out 224,$(IMAGE_SIZE)),--image-size \
  $(IMAGE_SIZE)) --seed $(SEED) $(IMAGENET_ARGS)
# what NAME.done records (paths, threads, workers and device change no result)
imagenet_cmd   = $(strip $(call imagenet_init,$1)) | $(strip $(call imagenet_train,$1))
imagenet_run_options = $(if $(THREADS),--threads $(THREADS)) $(if $(WORKERS),--workers \
  $(WORKERS)) $(if $(DEVICE),--device $(DEVICE))

$(IMAGENET_TARGETS): tools
	@set -e; \
	out='$(call imagenet_out,$@)'; name='$(call imagenet_name,$@)'; ext='$(call imagenet_ext,$@)'; \
	bin='$(BUILD_DIR)/bin'; cmd='$(call imagenet_cmd,$@)'; \
	if [ -s "$$out/$$name.done" ] && [ "$$(head -n 1 "$$out/$$name.done")" = "$$cmd" ]; then \
	  echo "$$name: done: $$out/$$name.eval.json"; exit 0; \
	fi; \
	if [ -z '$(IMAGENET)' ] || [ ! -d '$(IMAGENET)/train' ]; then \
	  echo "examples: error: $@ needs IMAGENET=DIR, a folder with train/<class>/ and val/<class>/" \
	    "(ImageNet as torchvision's ImageFolder reads it)" >&2; exit 2; \
	fi; \
	mkdir -p "$$out"; \
	if [ -e "$$out/$$name.ckpt" ] && [ "$$(cat "$$out/$$name.command" 2>/dev/null)" != "$$cmd" ]; then \
	  echo "examples: error: $$out/$$name.ckpt is a checkpoint of another command" \
	    "($$out/$$name.command); remove it to start again" >&2; exit 1; \
	fi; \
	echo "$$cmd" >"$$out/$$name.command"; \
	"$$bin"/$(strip $(call imagenet_init,$@)) -o "$$out/$$name.recipe"; \
	resume=""; \
	if [ -s "$$out/$$name.ckpt" ]; then resume="--resume $$out/$$name.ckpt"; \
	  echo "$$name: resuming from $$out/$$name.ckpt"; fi; \
	t0=$$(date +%s); \
	"$$bin"/$(strip $(call imagenet_train,$@)) "$$out/$$name.recipe" $(imagenet_run_options) \
	  --checkpoint "$$out/$$name.ckpt" --checkpoint-every $(CHECKPOINT_EVERY) \
	  --log "$$out/$$name.jsonl" -o "$$out/$$name.$$ext" $$resume; \
	"$$bin/popup-eval" --json $(if $(THREADS),--threads $(THREADS)) "$$out/$$name.$$ext" \
	  >"$$out/$$name.eval.json.tmp"; \
	mv "$$out/$$name.eval.json.tmp" "$$out/$$name.eval.json"; \
	printf '%s\nseconds %d\n' "$$cmd" "$$(($$(date +%s) - t0))" >"$$out/$$name.done"; \
	rm -f "$$out/$$name.ckpt"; \
	echo "$$name: $$out/$$name.eval.json"

# The commands each target runs and the time 100 epochs take at the images/s above.
imagenet-plan:
	@echo "ImageNet targets (IMAGENET=$(or $(IMAGENET),DIR); results in $(BUILD_DIR)/experiments/imagenet/):"
	@$(foreach t,$(IMAGENET_TARGETS),echo "  $(call imagenet_name,$t):"; \
	  echo "    $(strip $(call imagenet_cmd,$t) $(imagenet_run_options)) --checkpoint-every $(CHECKPOINT_EVERY)"; \
	  echo "    about $(shell echo '$(IMAGENET_IPS_$(call imagenet_net,$t))' | \
	    awk '{ printf "%.0f", 100 * (1281167 / $$1 + 50000 / (4 * $$1)) / 86400 }') days on the" \
	    "2-core CPU at $(IMAGENET_IPS_$(call imagenet_net,$t)) training images/s" \
	    "(extrapolated to 100 epochs; see examples/README.md)";)
