"""The harness's own copy of the contract: platform constants, trace ids."""
