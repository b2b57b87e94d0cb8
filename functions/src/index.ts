// First, before anything loads google-gax: see the module (it makes each Firestore commit cheaper).
import './adapters/firestore/gaxFallbackPreload.js';
import { cloudEvent, http } from '@google-cloud/functions-framework';
import { loadConfig } from './config.js';
import { createGateway } from './gateway.js';
import { runHttpRequestsWithoutDomains } from './http/frameworkDomain.js';
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
// Before the framework builds its server; an API that sheds load refuses there, before reading the body.
installProblemFinalHandler({
  maxBodyBytes: config.maxBodyBytes,
  admission: target ? gateway.shedders[target] : undefined,
});
// An instance serving one of the HTTP functions never constructs a domain (see frameworkDomain.ts).
const httpTargets: readonly (string | undefined)[] = ['inferenceApi', 'reviewerApi', 'reviewJobs'];
if (httpTargets.includes(target)) runHttpRequestsWithoutDomains();

http('inferenceApi', gateway.inferenceApi);
http('reviewerApi', gateway.reviewerApi);
http('reviewJobs', gateway.reviewJobs);
cloudEvent('reviewIntake', gateway.reviewIntake);
