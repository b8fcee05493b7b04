// The messages between the page (./main.ts) and the training worker (./worker.ts).

/** The form's settings. */
export interface Settings {
  preset: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  trainImages: number;
  testImages: number;
  seed: number;
}

export type ToWorker =
  | { type: 'init'; base: string; backend: BackendChoice }
  | { type: 'train'; settings: Settings }
  | { type: 'stop' }
  | { type: 'save'; url: string };

/** One test image with the model's output on it. */
export interface PredictionInfo {
  label: number;
  probabilities: number[];
  top5: { c: number; p: number }[];
  /** 32×32×3 RGB bytes. */
  image: Uint8Array;
  /** 32×32 RGBA: the attention rollout over the image. */
  overlay: Uint8ClampedArray;
}

export interface BatchMessage {
  type: 'batch';
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  secondsLeft: number;
  seconds: number;
}

export interface DoneMessage {
  type: 'done';
  status: string;
  history: Record<string, number[]>;
  params: number;
  trainSeconds: number;
  imagesPerSecond: number;
  test: { images: number; accuracy: number; loss: number; confusionMatrix: number[][] };
  predictions: PredictionInfo[];
  info: Record<string, unknown>;
}

export type FromWorker =
  | { type: 'backend'; info: Record<string, unknown>; crossOriginIsolated: boolean; available: BackendChoice[]; note?: string }
  | { type: 'status'; text: string }
  | BatchMessage
  | { type: 'epoch'; epoch: number; logs: Record<string, number> }
  | DoneMessage
  | { type: 'saved'; url: string; bytes: number }
  | { type: 'error'; text: string };

/** The backends the page offers: wasm (the library's SIMD kernels), and WebGL / WebGPU where the browser has them. */
export type BackendChoice = 'wasm' | 'webgl' | 'webgpu';
