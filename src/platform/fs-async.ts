import { mkdtemp, readFile, rm, stat, statfs } from 'node:fs';
import { promisify } from 'node:util';

/*
 * The promise forms of the file calls on `run`'s start path. node:fs/promises costs every start
 * ~1.3 ms to load (it brings readline and the fs streams along); the callback API it wraps is
 * loaded already.
 */
export const mkdtempAsync = promisify(mkdtemp);
export const readFileAsync = promisify(readFile);
export const rmAsync = promisify(rm);
export const statAsync = promisify(stat);
export const statfsAsync = promisify(statfs);
