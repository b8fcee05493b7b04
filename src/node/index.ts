/**
 * vit-tfjs/node: the Node-only part of vit-tfjs (disk IO, dataset files and downloads, backend selection).
 *
 * @packageDocumentation
 */

// --- backend selection ---

// --- model IO ---

// --- data (files, archives, downloads, PNG) ---
