// First, before anything loads google-gax: see the module (it makes each Firestore commit cheaper).
import './adapters/firestore/gaxFallbackPreload.js';
import { cloudEvent, type HttpFunction, http } from '@google-cloud/functions-framework';
import { loadConfig } from './config.js';
import { createGateway } from './gateway.js';
import { installProblemFinalHandler } from './http/frameworkErrors.js';

/**
 * Registrations only: which handler serves which function. Configuration is read and validated once, at cold
 * start: a bad setting fails the start with a message naming the variable.
 */
const config = loadConfig();

// Cloud Functions names the function this instance serves in FUNCTION_TARGET; only its parts are built at
// cold start (the review functions, for instance, hold no provider keys).
const target = process.env.FUNCTION_TARGET;
const gateway = createGateway(config, {}, { eager: target ? [target] : [] });
const httpFunctions = new Map<string, HttpFunction>([
  ['inferenceApi', gateway.inferenceApi],
  ['reviewerApi', gateway.reviewerApi],
  ['reviewJobs', gateway.reviewJobs],
]);
// Before the framework builds its server. An API that sheds load refuses there, before reading the body; an
// HTTP function gets its requests there, without the framework's Express routing (see frameworkErrors.ts).
installProblemFinalHandler({
  maxBodyBytes: config.maxBodyBytes,
  admission: target ? gateway.shedders[target] : undefined,
  serve: target ? httpFunctions.get(target) : undefined,
});

for (const [name, fn] of httpFunctions) http(name, fn);
cloudEvent('reviewIntake', gateway.reviewIntake);
