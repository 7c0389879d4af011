#!/usr/bin/env bash
# The two steps of template-update.yml, kept in a script so they read (and are tested) as one.
#   update:  reads .template-answers.json, picks the target version (the `ref` input, or the
#            template's highest release tag), runs `scaffold update` on a new branch and commits
#            what it changed, conflict markers included. Writes branch, target and conflicts to
#            $GITHUB_OUTPUT; no branch means there is nothing to propose.
#   publish: pushes the branch and opens the pull request (a draft when there are conflicts).
# Inputs come from the environment (REF_INPUT, SET_INPUT; UPDATE_BRANCH, UPDATE_TARGET,
# UPDATE_CONFLICTS, BASE), never from expressions in the workflow, so no input is ever run
# as shell code.
set -euo pipefail

ANSWERS=.template-answers.json
BODY="$RUNNER_TEMP/template-update-body.md"
OUTPUT_LIMIT=50000 # characters of scaffold's output in the body (GitHub allows 65536 in all)
BOT=(-c "user.name=github-actions[bot]" -c "user.email=41898282+github-actions[bot]@users.noreply.github.com")

notice() { echo "::notice title=Template update::$1"; }

fail() {
  echo "::error title=Template update::$1"
  exit 1
}

# Releases are tagged v<major>.<minor>.<patch>; the highest one, by version order.
latest_release() {
  git ls-remote --tags --refs "$1" 'v*' | sed 's|^.*refs/tags/||' \
    | { grep -E '^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$' || true; } | sort -V | tail -n 1
}

update() {
  [ -f "$ANSWERS" ] || fail "$ANSWERS is missing: this repository was not created from the template"
  local template current target branch status pairs args unmerged conflicts
  template=$(jq -er '.template' "$ANSWERS") || fail "$ANSWERS has no template URL"
  current=v$(jq -er '.version' "$ANSWERS") || fail "$ANSWERS has no version"
  target=${REF_INPUT:-$(latest_release "$template")}
  [ -n "$target" ] || fail "$template has no release tag (v<major>.<minor>.<patch>)"
  git check-ref-format --allow-onelevel "$target" || fail "ref '$target' is not a valid git ref name"
  read -r -a pairs <<<"${SET_INPUT:-}"
  if [ "$target" = "$current" ] && [ "${#pairs[@]}" -eq 0 ]; then
    notice "already on template $current"
    return
  fi
  branch=template-update/$target
  # Changed answers are a one-off request: their branch does not replace the weekly one.
  [ "${#pairs[@]}" -eq 0 ] || branch=$branch-run$GITHUB_RUN_ID
  if [ -n "$(gh pr list --repo "$GITHUB_REPOSITORY" --head "$branch" --state open --json number --jq '.[].number')" ]; then
    notice "a pull request from $branch is open: merge or close it first"
    return
  fi
  git switch --quiet --create "$branch"
  args=(--to "$target")
  for pair in "${pairs[@]}"; do args+=(--set "$pair"); done
  status=0
  uvx --from "git+$template@$target" scaffold update "${args[@]}" 2>&1 | tee "$RUNNER_TEMP/scaffold-update.txt" || status=$?
  # 0: merged cleanly; 1: merged with conflicts (markers left in the files); 2: bad input.
  [ "$status" -le 1 ] || fail "scaffold update exited with $status (see its output above)"
  # Conflicted files: those git left unmerged, and any file holding conflict markers.
  unmerged=$(git diff --name-only --diff-filter=U)
  git add --all
  if git diff --cached --quiet; then
    notice "template $target changes nothing in this service"
    return
  fi
  conflicts=$({
    echo "$unmerged"
    { git diff --cached --check || true; } | sed -n 's/^\(.*\):[0-9]*: leftover conflict marker$/\1/p'
  } | sed '/^$/d' | sort -u)
  git "${BOT[@]}" commit --quiet --message "Update to template $target" \
    --message "From $template, version $current, by scaffold update ${args[*]}."
  write_body "$template" "$current" "$target" "$status" "$conflicts" "${args[*]}"
  {
    echo "branch=$branch"
    echo "target=$target"
    echo "conflicts=$([ "$status" -eq 1 ] && echo true || echo false)"
  } >>"$GITHUB_OUTPUT"
}

write_body() {
  local template=$1 current=$2 target=$3 status=$4 conflicts=$5 command=$6
  {
    echo "Updates this service from template version \`$current\` to \`$target\` ($template),"
    echo "with \`scaffold update $command\`. See docs/updating.md."
    echo
    if [ "$status" -eq 1 ]; then
      echo "**Conflicts to resolve.** The template and this service changed the same lines. Edit"
      echo "the conflict markers (\`<<<<<<<\`, \`=======\`, \`>>>>>>>\`) out of these files, commit on"
      echo "this branch, then mark the pull request ready for review:"
      echo
      if [ -n "$conflicts" ]; then
        while IFS= read -r file; do echo "- \`$file\`"; done <<<"$conflicts"
      else
        echo "- (none found by git; the output below names them)"
      fi
      echo
    fi
    echo "<details><summary>Output of scaffold update</summary>"
    echo
    echo '````text'
    head -c "$OUTPUT_LIMIT" "$RUNNER_TEMP/scaffold-update.txt"
    echo
    echo '````'
    echo
    echo "</details>"
  } >"$BODY"
}

publish() {
  local title="Update to template $UPDATE_TARGET" draft=()
  if [ "$UPDATE_CONFLICTS" = true ]; then
    title="Update to template $UPDATE_TARGET (conflicts to resolve)"
    draft=(--draft)
  fi
  git push --quiet --force origin "HEAD:refs/heads/$UPDATE_BRANCH"
  local create=(gh pr create --repo "$GITHUB_REPOSITORY" --base "$BASE" --head "$UPDATE_BRANCH" --title "$title" --body-file "$BODY")
  # Draft pull requests need a paid plan in private repositories; the title says it too.
  "${create[@]}" "${draft[@]}" || { [ "${#draft[@]}" -gt 0 ] && "${create[@]}"; }
}

case "${1:-}" in
  update) update ;;
  publish) publish ;;
  *) fail "usage: $0 update|publish" ;;
esac
