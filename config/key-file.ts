// Secrets kept in the data directory (the API's JWT key, the SET signing key,
// the key that seals secrets at rest): read when the file exists, else created
// once, readable only by its owner. Two processes starting at once agree on
// one file: creation is exclusive, and the loser reads the winner's.

import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The text of `<dataDir>/<name>`, created with `create()` (mode 0600) when absent. */
export async function readOrCreateKeyFile(dataDir: string, name: string, create: () => string | Promise<string>): Promise<string> {
  const file = path.join(dataDir, name);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const text = await create();
  try {
    // 'wx' fails when another process created the file meanwhile; then use theirs.
    await writeFile(file, text, { flag: 'wx', mode: 0o600 });
    // The mode given to writeFile is masked by the umask.
    await chmod(file, 0o600);
    return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFile(file, 'utf8');
  }
}
