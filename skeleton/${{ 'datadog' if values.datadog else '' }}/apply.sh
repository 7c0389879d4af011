#!/usr/bin/env bash
# Creates this service's SLOs, then its monitors (the burn-rate ones refer to the SLOs' IDs),
# then its dashboard, through Datadog's API. Needs DD_API_KEY, DD_APP_KEY, and DD_SITE when
# the organisation is not on datadoghq.com; needs curl and jq. Run it once: running it again
# creates a second copy of each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
api="https://api.${DD_SITE:-datadoghq.com}/api/v1"

post() {
    curl --fail-with-body --silent --show-error --max-time 30 \
        --header "DD-API-KEY: ${DD_API_KEY:?set DD_API_KEY}" \
        --header "DD-APPLICATION-KEY: ${DD_APP_KEY:?set DD_APP_KEY}" \
        --header "Content-Type: application/json" \
        --data @- "$api/$1"
}

slo_id() {
    jq --compact-output ".[$1]" slos.json | post slo | jq --raw-output '.data[0].id'
}
SLO_AVAILABILITY_ID="$(slo_id 0)"
SLO_LATENCY_ID="$(slo_id 1)"
echo "SLOs: $SLO_AVAILABILITY_ID (availability), $SLO_LATENCY_ID (latency)"

jq --compact-output '.[]' monitors.json | while read -r monitor; do
    monitor="${monitor//\$\{SLO_AVAILABILITY_ID\}/$SLO_AVAILABILITY_ID}"
    monitor="${monitor//\$\{SLO_LATENCY_ID\}/$SLO_LATENCY_ID}"
    post monitor <<<"$monitor" | jq --raw-output '"monitor \(.id): \(.name)"'
done

post dashboard < dashboard.json | jq --raw-output '"dashboard: \(.url)"'
