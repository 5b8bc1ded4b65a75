# The two commands: `make run` and `make test`. Both install missing Debian
# packages, configure and build first.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps build run test soak bench clean format

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# `make run ARGS='-- echo hi'` runs a command in the guest instead of the demo's end.
run: build
	$(BUILD)/tools/pangaea run $(ARGS)

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -LE soak

# Long soak and scale runs, kept out of `make test`.
soak: build
	cd $(BUILD) && ctest --output-on-failure -L soak

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')
