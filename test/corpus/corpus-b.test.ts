import { CORPUS } from '../support/corpus.js';
import { corpusSuite } from '../support/corpus-suite.js';

corpusSuite(CORPUS.slice(Math.ceil(CORPUS.length / 2)));
