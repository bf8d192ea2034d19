#!/usr/bin/env bash
# After the fan-in of canary-daily.yml: one incident issue per tenant whose state a BACKOUT
# changed (kill switch on, quota back to the first step). An open incident of the tenant gets a
# comment instead of a second issue. A repeated run changes no state, so it opens nothing.
#
# Environment: CANARY_ROOT, CANARY_OUT (as in apply-and-push.sh; reads backout.txt), GH_TOKEN
# (for gh), CANARY_INCIDENT_LABEL (default canary-incident), and GitHub's own GITHUB_SERVER_URL,
# GITHUB_REPOSITORY and GITHUB_RUN_ID for the link to the run.
set -euo pipefail

root="${CANARY_ROOT:?CANARY_ROOT: the canary root}"
out="${CANARY_OUT:?CANARY_OUT: the records of apply-and-push.sh}"
label="${CANARY_INCIDENT_LABEL:-canary-incident}"
run_url="${GITHUB_SERVER_URL:-}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"

if [ ! -s "$out/backout.txt" ]; then
  echo "canary: no BACKOUT changed a state: no incident"
  exit 0
fi

gh label create "$label" --color B60205 \
  --description "A canary BACKOUT turned a tenant's kill switch on" --force >/dev/null

# fd 3, so that nothing in the loop (gh) can read the list from stdin.
while read -r tenant date _ <&3; do
  title="canary: BACKOUT of $tenant"
  body="$out/incident-$tenant.md"
  {
    echo "**$tenant** was backed out by the daily canary run of $date: kill switch on, quota back"
    echo "to the first step. It stays there until someone records a review:"
    echo
    echo '```'
    echo "canary review --tenant $tenant --by \"<name>\" --note \"<what was fixed>\""
    echo '```'
    echo
    if [ ! -s "$out/pushed" ]; then
      echo "> [!WARNING]"
      echo "> The state change was **not pushed** (see the run): the kill switch is not on in the"
      echo "> repository yet. Apply it by hand or re-run the workflow."
      echo
    fi
    echo "Run: $run_url"
    echo
    if [ -f "$root/$tenant/canary/${date}_decision.md" ]; then
      cat "$root/$tenant/canary/${date}_decision.md"
    fi
  } >"$body"
  # Tenant ids are [a-z0-9_-], so the title is safe inside the jq string.
  number="$(gh issue list --state open --label "$label" --search "\"$title\" in:title" \
    --json number,title --jq ".[] | select(.title == \"$title\") | .number" | head -n 1)"
  if [ -n "$number" ]; then
    gh issue comment "$number" --body-file "$body"
    echo "canary: $tenant: commented on incident #$number"
  else
    gh issue create --title "$title" --label "$label" --body-file "$body"
    echo "canary: $tenant: opened an incident"
  fi
done 3<"$out/backout.txt"
