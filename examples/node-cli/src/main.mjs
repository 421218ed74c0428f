import { topWords } from './count.mjs';

const n = Number(process.argv[2] ?? 10);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
for (const [word, count] of topWords(Buffer.concat(chunks).toString('utf8'), n)) {
  process.stdout.write(`${count}\t${word}\n`);
}
