# The secret lives outside the context: a build must never see it as a context file.
printf 'not-a-real-token' > "$CASE_WORK/token.txt"
