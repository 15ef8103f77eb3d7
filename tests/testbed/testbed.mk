# Make targets for the local testbed (etcd + kube-apiserver + controller-manager
# per cluster, as plain processes). Include from the repository's Makefile:
#
#   include tests/testbed/testbed.mk
#
#   make testbed-up [MEMBERS=3]   build if needed, start host + MEMBERS members
#   make testbed-status / testbed-down / testbed-test
#
# The state dir defaults to <repo>/.testbed (override with KFED_TESTBED_DIR),
# ports start at 16440 (override with KFED_TESTBED_BASE_PORT).

TESTBED_SRC  := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TESTBED_REPO := $(abspath $(TESTBED_SRC)/../..)
MEMBERS ?= 2

# build.sh prints the bin dir on stdout (progress goes to stderr); with the
# argument "launcher" it builds only the small launcher, so down and status
# never wait for a Kubernetes build.
TESTBED_RUN = bin="$$($(TESTBED_SRC)/build.sh $(1))" && \
	KFED_TESTBED_DIR="$${KFED_TESTBED_DIR:-$(TESTBED_REPO)/.testbed}" "$$bin/testbed"

.PHONY: testbed-build testbed-up testbed-down testbed-status testbed-test

testbed-build:
	@$(TESTBED_SRC)/build.sh >/dev/null

testbed-up:
	@$(call TESTBED_RUN) up --members $(MEMBERS)

testbed-down:
	@$(call TESTBED_RUN,launcher) down

testbed-status:
	@$(call TESTBED_RUN,launcher) status

testbed-test:
	@$(TESTBED_SRC)/test.sh
