#!/bin/sh
# One-shot, once the Temporal server answers: the engine's namespace and the custom
# search attributes its workflows set. The worker also registers missing attributes,
# but registering them here, before any workflow starts, keeps the first starts from
# racing the server's search-attribute cache.
set -eu
NS="${TEMPORAL_NAMESPACE:-default}"

until temporal operator cluster health 2>/dev/null | grep -q SERVING; do sleep 1; done

if ! temporal operator namespace describe -n "$NS" >/dev/null 2>&1; then
    temporal operator namespace create -n "$NS" --retention "${TEMPORAL_RETENTION:-720h}"
fi
until temporal operator search-attribute list -n "$NS" >/dev/null 2>&1; do sleep 1; done

# Keep in step with escrow/search_attributes.py (tests/test_compose.py checks).
for sa in ContractId=Keyword ClientId=Keyword ExpertId=Keyword EscrowState=Keyword \
          AmountCents=Int DeadlineAt=Datetime DisputeStage=Int WaitingOn=Keyword; do
    name=${sa%%=*}
    if ! temporal operator search-attribute list -n "$NS" | grep -qw "$name"; then
        temporal operator search-attribute create -n "$NS" --name "$name" --type "${sa#*=}"
    fi
done
echo "namespace $NS ready"
