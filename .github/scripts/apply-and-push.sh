#!/usr/bin/env bash
# The fan-in of canary-daily.yml, the only writer of the state in git:
#   1. apply each tenant's decision with `canary rollout` (idempotent: a decision already applied,
#      or a second GO for the same KPI date, changes nothing);
#   2. commit the state files that changed (GO and BACKOUT), all in one commit;
#   3. push, and when the branch moved meanwhile: fetch, refuse if the same state files changed
#      upstream, rebase onto it, push again (a bounded `pull --rebase` retry; never a force push).
#
# Run from the root of the checkout. Environment:
#   CANARY_ROOT           canary root, relative to the checkout (tenant folders below it)
#   CANARY_DECISIONS      downloaded gate artifacts: decisions/<tenant>/<date>_decision.json (.md)
#   CANARY_OUT            folder for this script's records: changed.txt, backout.txt, refused.txt
#                         ("<tenant> <date> <decision>" per line), pushed (the commit, once it is
#                         on the branch) and the rollout logs
#   CANARY_BRANCH         branch to push to
#   CANARY_REMOTE         remote to push to (default origin)
#   CANARY_PUSH_ATTEMPTS  pushes before giving up (default 5)
#   CANARY_PUSH_BACKOFF   seconds to wait after the n-th rejected push, times n (default 5)
# Exit status: 0 when every decision was applied or unchanged and the commit (if any) is pushed;
# 1 when a rollout was refused or the push failed (what could be pushed is pushed first).
set -euo pipefail

root="${CANARY_ROOT:?CANARY_ROOT: the canary root, relative to the checkout}"
decisions="${CANARY_DECISIONS:?CANARY_DECISIONS: the folder of the downloaded decisions}"
out="${CANARY_OUT:?CANARY_OUT: a folder for the records of this step}"
branch="${CANARY_BRANCH:?CANARY_BRANCH: the branch to push to}"
remote="${CANARY_REMOTE:-origin}"
attempts="${CANARY_PUSH_ATTEMPTS:-5}"
backoff="${CANARY_PUSH_BACKOFF:-5}"
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-github-actions[bot]}"
export GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}"
export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME}"
export GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}"

tenant_re='^[a-z0-9][a-z0-9_-]{0,62}$'
date_re='^[0-9]{4}-[0-9]{2}-[0-9]{2}$'

mkdir -p "$out/rollout"
: >"$out/changed.txt"
: >"$out/backout.txt"
: >"$out/refused.txt"
rm -f "$out/pushed"

# A few lines for the job's step summary (GitHub sets GITHUB_STEP_SUMMARY; elsewhere: none).
summary() {
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"
  fi
}

decision_of() {
  python -c 'import json, sys; print(json.load(open(sys.argv[1], encoding="utf-8"))["decision"])' "$1"
}

# --- 1. apply ------------------------------------------------------------------------------------
shopt -s nullglob
files=("$decisions"/decisions/*/*_decision.json)
if [ "${#files[@]}" -eq 0 ]; then
  echo "canary: no decisions in $decisions/decisions: nothing to apply"
fi
states=()
lines=()
for file in "${files[@]}"; do
  tenant="$(basename "$(dirname "$file")")"
  name="$(basename "$file")"
  date="${name%_decision.json}"
  if ! [[ "$tenant" =~ $tenant_re && "$date" =~ $date_re ]]; then
    echo "::error title=canary apply::$file is not <tenant>/<YYYY-MM-DD>_decision.json; skipped"
    echo "? ? $file" >>"$out/refused.txt"
    continue
  fi
  if [ ! -d "$root/$tenant" ] || [ -L "$root/$tenant" ]; then
    echo "::error title=canary apply::$tenant: no tenant folder $root/$tenant; skipped"
    echo "$tenant $date unknown-tenant" >>"$out/refused.txt"
    continue
  fi
  # The rollout takes a decision file only from inside the root: put it where decide writes it.
  mkdir -p "$root/$tenant/canary"
  cp "$file" "$root/$tenant/canary/$name"
  if [ -f "${file%.json}.md" ]; then
    cp "${file%.json}.md" "$root/$tenant/canary/${name%.json}.md"
  fi
  word="$(decision_of "$file")"
  status=0
  canary rollout --tenant "$tenant" --root "$root" --decision-file "$root/$tenant/canary/$name" ||
    status=$?
  for log in "$root/$tenant/canary/${date}_rollout_log".*; do
    mkdir -p "$out/rollout/$tenant"
    cp "$log" "$out/rollout/$tenant/"
  done
  if [ "$status" -ne 0 ]; then
    echo "::error title=canary $tenant: rollout refused::canary rollout exited $status; see the log above"
    echo "$tenant $date $word" >>"$out/refused.txt"
    continue
  fi
  state="$root/$tenant/operate/operate_state.json"
  if [ -n "$(git status --porcelain -- "$state")" ]; then
    states+=("$state")
    changed_date="$date"
    lines+=("$tenant: $word")
    echo "$tenant $date $word" >>"$out/changed.txt"
    if [ "$word" = "BACKOUT" ]; then
      echo "$tenant $date $word" >>"$out/backout.txt"
    fi
  fi
done

refused=0
if [ -s "$out/refused.txt" ]; then
  refused=1
fi

# --- 2. commit -----------------------------------------------------------------------------------
summary "### canary: apply" ""
if [ -s "$out/refused.txt" ]; then
  summary "Refused (see the log of this step): $(cut -d' ' -f1 "$out/refused.txt" | tr '\n' ' ')" ""
fi
if [ "${#states[@]}" -eq 0 ]; then
  echo "canary: no state changed: nothing to commit"
  summary "No state changed: nothing to commit."
  exit "$refused"
fi
git add -- "${states[@]}"
git commit --quiet -m "canary: apply the decisions of $changed_date (${#states[@]} tenant(s) changed)" \
  -m "$(printf '%s\n' "${lines[@]}")"
echo "canary: committed $(git rev-parse --short HEAD): ${lines[*]}"

# --- 3. push -------------------------------------------------------------------------------------
base="$(git rev-parse HEAD~1)"
attempt=1
until git push --quiet "$remote" "HEAD:refs/heads/$branch"; do
  if [ "$attempt" -ge "$attempts" ]; then
    echo "::error title=canary push::$branch rejected the push $attempt times (a protected branch? see docs/github-actions.md); the states are not saved, the next run decides again"
    exit 1
  fi
  echo "canary: $branch moved; fetching and rebasing (attempt $attempt of $attempts)"
  git fetch --quiet "$remote" "$branch"
  upstream="$(git rev-parse FETCH_HEAD)"
  overlap="$(git diff --name-only "$base" "$upstream" -- "${states[@]}")"
  if [ -n "$overlap" ]; then
    echo "::error title=canary push::the same state files changed on $branch meanwhile: $(echo "$overlap" | tr '\n' ' ')- not pushed; the next run decides again on the new state"
    exit 1
  fi
  if ! git rebase --quiet --autostash "$upstream"; then
    git rebase --abort || true
    echo "::error title=canary push::the rebase onto $branch failed; not pushed"
    exit 1
  fi
  base="$upstream"
  sleep "$((backoff * attempt))"
  attempt=$((attempt + 1))
done
git rev-parse HEAD >"$out/pushed"
echo "canary: pushed $(git rev-parse --short HEAD) to $branch"
summary "Committed $(git rev-parse --short HEAD) to \`$branch\`:" "" "$(printf -- '- %s\n' "${lines[@]}")"
exit "$refused"
