import { http } from '@google-cloud/functions-framework';
import { loadConfig } from './config.js';
import { createGateway } from './gateway.js';
import { installProblemFinalHandler } from './http/frameworkErrors.js';

/**
 * Registrations only: which handler serves which function. Configuration is read and validated once, at cold
 * start: a bad setting fails the start with a message naming the variable.
 */
installProblemFinalHandler();

const gateway = createGateway(loadConfig());

http('inferenceApi', gateway.inferenceApi);
