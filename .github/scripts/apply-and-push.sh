#!/usr/bin/env bash
# The fan-in of canary-daily.yml, the only writer of the state in git:
#   1. apply every tenant's decision in one `canary rollout --tenant all --decisions …` run (each
#      tenant under its own lock; idempotent: a decision already applied, or a second GO for the
#      same KPI date, changes nothing; one refused tenant does not stop the others);
#   2. commit the state files that changed (GO and BACKOUT), all in one commit;
#   3. push, and when the branch moved meanwhile: fetch, leave out the tenants whose state file
#      also changed upstream (reported as conflicts, decided again by the next run), rebase the
#      others onto it, push again (bounded; never a force push).
#
# Run from the root of the checkout. Environment:
#   CANARY_ROOT           canary root, relative to the checkout (tenant folders below it)
#   CANARY_DECISIONS      downloaded gate artifacts: decisions/<tenant>/<date>_decision.json (.md)
#   CANARY_OUT            folder for this script's records: report.jsonl (one JSON line per tenant
#                         from `canary rollout --report`), changed.txt, refused.txt, conflict.txt
#                         ("<tenant> <date> <decision>" per line), pushed (the commit, once it is
#                         on the branch), rollout.txt (the rollout's output) and the rollout logs
#   CANARY_BRANCH         branch to push to
#   CANARY_REMOTE         remote to push to (default origin)
#   CANARY_PUSH_ATTEMPTS  pushes before giving up (default 5)
#   CANARY_PUSH_BACKOFF   seconds to wait after the n-th rejected push, times n (default 5)
#   GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID  (set by GitHub) for the run's link
# Exit status: 0 when every decision was applied or unchanged and the commit (if any) is pushed;
# 1 when a rollout was refused, a tenant conflicted or the push failed (what could be pushed is
# pushed first).
set -euo pipefail

root="${CANARY_ROOT:?CANARY_ROOT: the canary root, relative to the checkout}"
decisions="${CANARY_DECISIONS:?CANARY_DECISIONS: the folder of the downloaded decisions}"
out="${CANARY_OUT:?CANARY_OUT: a folder for the records of this step}"
branch="${CANARY_BRANCH:?CANARY_BRANCH: the branch to push to}"
remote="${CANARY_REMOTE:-origin}"
attempts="${CANARY_PUSH_ATTEMPTS:-5}"
backoff="${CANARY_PUSH_BACKOFF:-5}"
run_url=""
if [ -n "${GITHUB_RUN_ID:-}" ]; then
  run_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/$GITHUB_RUN_ID"
fi
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-github-actions[bot]}"
export GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-41898282+github-actions[bot]@users.noreply.github.com}"
export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME}"
export GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}"
here="$(dirname "${BASH_SOURCE[0]}")"

mkdir -p "$out"
: >"$out/report.jsonl"
: >"$out/conflict.txt"
rm -f "$out/pushed"

# A few lines for the job's step summary (GitHub sets GITHUB_STEP_SUMMARY; elsewhere: none).
summary() {
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"
  fi
}

# --- 1. apply ------------------------------------------------------------------------------------
status=0
if [ -d "$decisions/decisions" ]; then
  canary rollout --tenant all --root "$root" --decisions "$decisions/decisions" \
    --report "$out/report.jsonl" >"$out/rollout.txt" || status=$?
  tail -n 1 "$out/rollout.txt"
else
  echo "canary: no decisions in $decisions/decisions: nothing to apply"
fi
# 0: all applied or unchanged; 4: some refused (in the report). Anything else applied nothing.
if [ "$status" -ne 0 ] && [ "$status" -ne 4 ]; then
  cat "$out/rollout.txt" || true
  echo "::error title=canary apply::canary rollout exited $status: nothing was applied"
  exit "$status"
fi
# changed.txt, refused.txt, the rollout logs, annotations and the summary of what was refused.
python3 "$here/apply-records.py" report "$root" "$out"

# --- 2. commit -----------------------------------------------------------------------------------
# The checkout is fresh: every state file that differs from it was written by this rollout.
mapfile -t states < <(git ls-files --modified --others --exclude-standard -- \
  "$root/*/operate/operate_state.json")
failed=0
if [ -s "$out/refused.txt" ]; then
  failed=1
fi

lines=""
commit() {
  local date
  date="$(cut -d' ' -f2 "$out/changed.txt" | sort | tail -n 1)"
  lines="$(python3 "$here/apply-records.py" lines "$root" "$out" "${states[@]}")"
  git add -- "${states[@]}"
  git commit --quiet -m "canary: apply the decisions of $date (${#states[@]} tenant(s) changed)" \
    -m "$lines" ${run_url:+-m "Run: $run_url"}
  echo "canary: committed $(git rev-parse --short HEAD): ${#states[@]} tenant(s) changed"
}

summary "### canary: apply" ""
if [ "${#states[@]}" -eq 0 ]; then
  echo "canary: no state changed: nothing to commit"
  summary "No state changed: nothing to commit."
  exit "$failed"
fi
commit

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
  mapfile -t overlap < <(git diff --name-only "$base" "$upstream" -- "${states[@]}")
  if [ "${#overlap[@]}" -gt 0 ]; then
    # Someone changed these tenants' states meanwhile (a review committed by hand): theirs win,
    # ours are decided again by the next run on the new state. The other tenants still go.
    failed=1
    python3 "$here/apply-records.py" conflict "$root" "$out" "${overlap[@]}"
    git reset --quiet --soft HEAD~1
    for file in "${overlap[@]}"; do
      if git cat-file -e "HEAD:$file" 2>/dev/null; then
        git restore --quiet --staged --worktree --source=HEAD -- "$file"
      else # a state file new in our commit, and upstream's too
        git rm --quiet --cached --force -- "$file"
        rm -f -- "$file"
      fi
    done
    mapfile -t states < <(printf '%s\n' "${states[@]}" | grep -vxF -f <(printf '%s\n' "${overlap[@]}") || true)
    if [ "${#states[@]}" -eq 0 ]; then
      echo "canary: every changed state conflicted: nothing to push"
      summary "Every changed state conflicted with $branch: nothing pushed."
      exit 1
    fi
    commit
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
summary "Committed $(git rev-parse --short HEAD) to \`$branch\` (${#states[@]} tenant(s) changed):" "" \
  "$(printf '%s\n' "$lines" | head -n 200 | sed 's/^/- /')"
if [ "${#states[@]}" -gt 200 ]; then
  summary "- … and $((${#states[@]} - 200)) more (the commit message lists them all)"
fi
exit "$failed"
