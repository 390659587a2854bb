/**
 * The training callbacks: `callbacks.earlyStopping(...)` and the other factories by TF.js's and
 * Keras's names, their classes, and the Callback base class and CallbackList that fit() drives.
 */
import { modelCheckpoint } from './checkpoint.ts';
import { earlyStopping } from './early-stopping.ts';
import { csvLogger, jsonLogger } from './history-logger.ts';
import { reduceLROnPlateau } from './reduce-lr.ts';
import { learningRateScheduler } from './scheduler.ts';

export { Callback, CallbackList, CustomCallback, type CallbackModel, type CallbackHooks, type FitCallbacks, type BatchLogs } from './list.ts';
export { EarlyStopping, type EarlyStoppingArgs } from './early-stopping.ts';
export { ReduceLROnPlateau, type ReduceLROnPlateauArgs } from './reduce-lr.ts';
export { ModelCheckpoint, type ModelCheckpointArgs } from './checkpoint.ts';
export { LearningRateScheduler, type Schedule } from './scheduler.ts';
export { CSVLogger, JSONLogger, type CSVLoggerArgs } from './history-logger.ts';
export type { MonitorMode } from './monitor.ts';

/** The callback factories, as `tf.callbacks` (earlyStopping) and keras.callbacks name them. */
export const callbacks = { earlyStopping, reduceLROnPlateau, modelCheckpoint, learningRateScheduler, csvLogger, jsonLogger };
