/**
 * The one channel for progress and logs. The engine emits these events; the CLI renders them as
 * tty, plain, json or nothing. Library code never writes to stdout or stderr itself.
 */

export type StepStatus = 'started' | 'cached' | 'done' | 'error' | 'canceled';

export interface StepEvent {
  type: 'step';
  id: string;
  name: string;
  status: StepStatus;
  duration_ms?: number;
}

export interface LogEvent {
  type: 'log';
  id: string;
  stream: 'stdout' | 'stderr';
  data: string;
}

export interface WarningEvent {
  type: 'warning';
  message: string;
  file?: string;
  line?: number;
  column?: number;
}

export interface ErrorEvent {
  type: 'error';
  code: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  hint?: string;
}

export interface ResultEvent {
  type: 'result';
  digest?: string;
  config_digest?: string;
  names: string[];
}

export type KilnEvent = StepEvent | LogEvent | WarningEvent | ErrorEvent | ResultEvent;

export type EventListener = (event: KilnEvent) => void;
