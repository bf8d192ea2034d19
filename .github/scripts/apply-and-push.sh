#!/usr/bin/env bash
# The fan-in of canary-daily.yml, the only writer of the state in git, in two steps:
#
# apply-and-push.sh apply   (no token: it runs the installed canary code)
#   1. apply every tenant's decision in one `canary rollout --tenant all --decisions …` run (each
#      tenant under its own lock; idempotent: a decision already applied, or a second GO for the
#      same KPI date, changes nothing; one refused tenant does not stop the others);
#   2. commit the state files that changed (GO and BACKOUT), all in one commit.
# apply-and-push.sh push    (the token, and no canary code: git and the standard library only)
#   3. push, and when the branch moved meanwhile: fetch, leave out the tenants whose state file
#      also changed upstream (reported as conflicts, decided again by the next run), rebase the
#      others onto it, push again (bounded; never a force push).
#
# Run from the root of the checkout. Environment:
#   CANARY_ROOT           canary root, relative to the checkout (tenant folders below it)
#   CANARY_DECISIONS      (apply) downloaded gate artifacts: decisions/<tenant>/<date>_decision.json
#   CANARY_OUT            folder for this script's records: report.jsonl (one JSON line per tenant
#                         from `canary rollout --report`), changed.txt, refused.txt, conflict.txt
#                         ("<tenant> <date> <decision>" per line), states.txt (the committed state
#                         files), pushed (the commit, once it is on the branch), rollout.txt (the
#                         rollout's output) and the rollout logs
#   CANARY_BRANCH         (push) branch to push to
#   CANARY_PUSH_TOKEN     (push) token for the push and fetch, handed to git through the
#                         environment only (default: none, git's own credentials)
#   CANARY_REMOTE         remote to push to (default origin)
#   CANARY_PUSH_ATTEMPTS  pushes before giving up (default 5)
#   CANARY_PUSH_BACKOFF   seconds to wait after the n-th rejected push, times n (default 5)
#   GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID  (set by GitHub) for the run's link
# Exit status of apply: 0 unless the rollout itself failed (refusals are recorded, not fatal, so
# that the push still runs). Of push: 0 when every decision was applied or unchanged and the
# commit (if any) is pushed; 1 when a rollout was refused, a tenant conflicted or the push failed
# (what could be pushed is pushed first).
set -euo pipefail

phase="${1:?usage: apply-and-push.sh apply|push}"
root="${CANARY_ROOT:?CANARY_ROOT: the canary root, relative to the checkout}"
out="${CANARY_OUT:?CANARY_OUT: a folder for the records of this step}"
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
# The records' helper needs only the standard library: -I -S keeps out whatever the install put
# into site-packages (a .pth file runs at every start), in the step that holds the token too.
records() {
  python3 -I -S "$here/apply-records.py" "$@"
}

# A few lines for the job's step summary (GitHub sets GITHUB_STEP_SUMMARY; elsewhere: none).
summary() {
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"
  fi
}

commit() {
  local date
  date="$(cut -d' ' -f2 "$out/changed.txt" | sort | tail -n 1)"
  records lines "$root" "$out" "${states[@]}" >"$out/lines.txt"
  {
    printf 'canary: apply the decisions of %s (%s tenant(s) changed)\n\n' "$date" "${#states[@]}"
    cat "$out/lines.txt"
    if [ -n "$run_url" ]; then
      printf '\nRun: %s\n' "$run_url"
    fi
  } >"$out/message.txt"
  git add -- "${states[@]}"
  git commit --quiet -F "$out/message.txt"
  printf '%s\n' "${states[@]}" >"$out/states.txt"
  echo "canary: committed $(git rev-parse --short HEAD): ${#states[@]} tenant(s) changed"
}

# --- 1. apply ------------------------------------------------------------------------------------
apply() {
  local decisions="${CANARY_DECISIONS:?CANARY_DECISIONS: the folder of the downloaded decisions}"
  local status=0
  mkdir -p "$out"
  : >"$out/report.jsonl"
  : >"$out/conflict.txt"
  : >"$out/states.txt"
  rm -f "$out/pushed"
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
  records report "$root" "$out"

  # --- 2. commit ---------------------------------------------------------------------------------
  # The checkout is fresh: every state file that differs from it was written by this rollout.
  mapfile -t states < <(git ls-files --modified --others --exclude-standard -- \
    "$root/*/operate/operate_state.json")
  summary "### canary: apply" ""
  if [ "${#states[@]}" -eq 0 ]; then
    echo "canary: no state changed: nothing to commit"
    summary "No state changed: nothing to commit."
    return
  fi
  commit
}

# --- 3. push -------------------------------------------------------------------------------------
push() {
  local branch="${CANARY_BRANCH:?CANARY_BRANCH: the branch to push to}"
  local failed=0 attempt=1 base upstream file
  if [ -s "$out/refused.txt" ]; then
    failed=1
  fi
  mapfile -t states <"$out/states.txt"
  if [ "${#states[@]}" -eq 0 ]; then
    exit "$failed"
  fi
  if [ -n "${CANARY_PUSH_TOKEN:-}" ]; then
    # As actions/checkout would persist it, but only in this process's environment.
    local basic
    basic="$(printf 'x-access-token:%s' "$CANARY_PUSH_TOKEN" | base64 -w0)"
    echo "::add-mask::$basic"
    export GIT_CONFIG_COUNT=1
    export GIT_CONFIG_KEY_0="http.${GITHUB_SERVER_URL:-https://github.com}/.extraheader"
    export GIT_CONFIG_VALUE_0="AUTHORIZATION: basic $basic"
  fi
  # No hook of the checkout runs with the token: the apply step could have written one.
  local git=(git -c core.hooksPath=/dev/null)
  base="$(git rev-parse HEAD~1)"
  until "${git[@]}" push --quiet "$remote" "HEAD:refs/heads/$branch"; do
    if [ "$attempt" -ge "$attempts" ]; then
      echo "::error title=canary push::$branch rejected the push $attempt times (a protected branch? see docs/github-actions.md); the states are not saved, the next run decides again"
      exit 1
    fi
    echo "canary: $branch moved; fetching and rebasing (attempt $attempt of $attempts)"
    "${git[@]}" fetch --quiet "$remote" "$branch"
    upstream="$(git rev-parse FETCH_HEAD)"
    mapfile -t overlap < <(git diff --name-only "$base" "$upstream" -- "${states[@]}")
    if [ "${#overlap[@]}" -gt 0 ]; then
      # Someone changed these tenants' states meanwhile (a review committed by hand): theirs
      # win, ours are decided again by the next run on the new state. The others still go.
      failed=1
      records conflict "$root" "$out" "${overlap[@]}"
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
    if ! "${git[@]}" rebase --quiet --autostash "$upstream"; then
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
    "$(head -n 200 "$out/lines.txt" | sed 's/^/- /')"
  if [ "${#states[@]}" -gt 200 ]; then
    summary "- … and $((${#states[@]} - 200)) more (the commit message lists them all)"
  fi
  exit "$failed"
}

case "$phase" in
  apply) apply ;;
  push) push ;;
  *)
    echo "usage: apply-and-push.sh apply|push" >&2
    exit 2
    ;;
esac
